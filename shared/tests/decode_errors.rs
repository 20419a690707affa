//! How decoding fails, and what it tolerates. The `Display` text of a [`ProtocolError`] goes
//! back to the peer in an `error` message, so it has to say what was wrong.

use mumu_shared::api::DeviceStatus;
use mumu_shared::signaling::{
    DeviceToServer, EndReason, Heartbeat, ServerToDevice, ServerToViewer, ViewerToServer,
    ViewerWatchRequest,
};
use mumu_shared::{DeviceId, ErrorCode, ErrorResponse, Message, ProtocolError, decode};

const DEVICE: &str = "3f6c2a9e-8b1d-4f27-9c5e-1a2b3c4d5e6f";
const SESSION: &str = "b7e4d1c2-5a6f-4e3b-8d9c-0f1e2a3b4c5d";

fn bad_payload(result: Result<impl std::fmt::Debug, ProtocolError>) -> (ProtocolError, String) {
    let error = result.expect_err("decoding should fail");
    assert!(
        matches!(error, ProtocolError::BadPayload { .. }),
        "expected BadPayload, got {error:?}"
    );
    let text = error.to_string();
    (error, text)
}

#[test]
fn text_that_is_not_json_is_not_json() {
    let error = decode::<ViewerToServer>("hello there").unwrap_err();
    assert!(matches!(error, ProtocolError::NotJson(_)), "{error:?}");
    assert!(error.to_string().contains("not valid JSON"), "{error}");
}

#[test]
fn truncated_json_is_not_json() {
    let error = decode::<DeviceToServer>(r#"{"type":"heartbeat","payload":{"#).unwrap_err();
    assert!(matches!(error, ProtocolError::NotJson(_)), "{error:?}");
}

#[test]
fn a_json_array_has_no_type() {
    let error = decode::<ViewerToServer>(r#"[{"type":"heartbeat"}]"#).unwrap_err();
    assert!(matches!(error, ProtocolError::NoType(_)), "{error:?}");
}

#[test]
fn a_json_string_has_no_type() {
    let error = decode::<ViewerToServer>(r#""heartbeat""#).unwrap_err();
    assert!(matches!(error, ProtocolError::NoType(_)), "{error:?}");
}

#[test]
fn an_object_without_type_has_no_type() {
    let error = decode::<DeviceToServer>(r#"{"payload":{},"ts":1}"#).unwrap_err();
    assert!(matches!(error, ProtocolError::NoType(_)), "{error:?}");
    assert!(error.to_string().contains("missing"), "{error}");
}

#[test]
fn a_type_that_is_not_a_string_is_no_type() {
    for kind in ["1", "null", "[\"hello\"]", "{\"name\":\"hello\"}"] {
        let text = format!(r#"{{"type":{kind},"payload":{{}}}}"#);
        let error = decode::<DeviceToServer>(&text).unwrap_err();
        assert!(
            matches!(error, ProtocolError::NoType(_)),
            "{kind}: {error:?}"
        );
        assert!(
            error.to_string().contains("not a string"),
            "{kind}: {error}"
        );
    }
}

#[test]
fn an_unknown_type_is_unknown_and_the_error_lists_the_expected_types() {
    let error = decode::<ViewerToServer>(r#"{"type":"subscribe","payload":{}}"#).unwrap_err();
    let ProtocolError::UnknownType { found, expected } = &error else {
        panic!("expected UnknownType, got {error:?}");
    };
    assert_eq!(found, "subscribe");
    assert_eq!(expected, &ViewerToServer::TYPES.join(", "));
    let text = error.to_string();
    assert!(text.contains("\"subscribe\""), "{text}");
    for kind in ViewerToServer::TYPES {
        assert!(text.contains(kind), "{text} does not list {kind}");
    }
}

#[test]
fn types_are_case_sensitive() {
    let error = decode::<ViewerToServer>(r#"{"type":"Heartbeat","payload":{}}"#).unwrap_err();
    assert!(
        matches!(error, ProtocolError::UnknownType { .. }),
        "{error:?}"
    );
}

#[test]
fn a_device_only_type_sent_as_a_viewer_message_is_unknown() {
    let text = format!(
        r#"{{"type":"signal_offer","payload":{{"session_id":"{SESSION}","sdp":"v=0\r\n"}}}}"#
    );
    assert!(decode::<DeviceToServer>(&text).is_ok());
    let error = decode::<ViewerToServer>(&text).unwrap_err();
    assert!(
        matches!(&error, ProtocolError::UnknownType { found, .. } if found == "signal_offer"),
        "{error:?}"
    );
}

#[test]
fn a_viewer_only_type_sent_as_a_device_message_is_unknown() {
    let text = format!(r#"{{"type":"watch_request","payload":{{"device_id":"{DEVICE}"}}}}"#);
    assert!(decode::<ViewerToServer>(&text).is_ok());
    let error = decode::<DeviceToServer>(&text).unwrap_err();
    assert!(
        matches!(error, ProtocolError::UnknownType { .. }),
        "{error:?}"
    );
}

#[test]
fn a_server_message_sent_by_a_client_is_unknown() {
    let text = r#"{"type":"hello_ack","payload":{}}"#;
    assert!(matches!(
        decode::<DeviceToServer>(text),
        Err(ProtocolError::UnknownType { .. })
    ));
    assert!(matches!(
        decode::<ViewerToServer>(text),
        Err(ProtocolError::UnknownType { .. })
    ));
}

#[test]
fn a_missing_required_field_is_a_bad_payload_that_names_the_field() {
    let (error, text) = bad_payload(decode::<ViewerToServer>(
        r#"{"type":"watch_request","payload":{}}"#,
    ));
    assert!(matches!(&error, ProtocolError::BadPayload { kind, .. } if kind == "watch_request"));
    assert!(text.contains("device_id"), "{text}");
    assert!(text.contains("watch_request"), "{text}");
}

#[test]
fn a_missing_device_secret_is_a_bad_payload_that_names_the_field() {
    let message =
        format!(r#"{{"type":"hello","payload":{{"protocol":1,"device_id":"{DEVICE}"}}}}"#);
    let (_, text) = bad_payload(decode::<DeviceToServer>(&message));
    assert!(text.contains("device_secret"), "{text}");
}

#[test]
fn a_field_of_the_wrong_type_is_a_bad_payload_that_names_the_field() {
    let (_, text) = bad_payload(decode::<ViewerToServer>(
        r#"{"type":"watch_request","payload":{"device_id":42}}"#,
    ));
    assert!(text.contains("device_id"), "{text}");

    let message = format!(
        r#"{{"type":"hello","payload":{{"protocol":"one","device_id":"{DEVICE}","device_secret":"s"}}}}"#
    );
    let (_, text) = bad_payload(decode::<DeviceToServer>(&message));
    assert!(text.contains("protocol"), "{text}");
}

#[test]
fn a_payload_that_is_not_an_object_is_a_bad_payload() {
    let (_, text) = bad_payload(decode::<ViewerToServer>(
        r#"{"type":"watch_request","payload":"device-1"}"#,
    ));
    assert!(text.contains("watch_request"), "{text}");
}

#[test]
fn a_ts_that_is_not_a_number_is_a_bad_payload_that_names_it() {
    let (_, text) = bad_payload(decode::<ViewerToServer>(
        r#"{"type":"heartbeat","payload":{},"ts":"now"}"#,
    ));
    assert!(text.contains("ts"), "{text}");
}

#[test]
fn a_heartbeat_without_payload_decodes() {
    let envelope = decode::<DeviceToServer>(r#"{"type":"heartbeat"}"#).unwrap();
    assert_eq!(envelope.message, DeviceToServer::Heartbeat(Heartbeat {}));
    assert_eq!(envelope.request_id, None);
    assert_eq!(envelope.ts, 0, "a missing ts reads as 0");
}

#[test]
fn a_heartbeat_without_payload_decodes_in_every_direction() {
    assert!(decode::<ViewerToServer>(r#"{"type":"heartbeat","ts":5}"#).is_ok());
    assert!(decode::<ServerToDevice>(r#"{"type":"heartbeat_ack"}"#).is_ok());
    assert!(decode::<ServerToViewer>(r#"{"type":"heartbeat_ack"}"#).is_ok());
}

#[test]
fn a_message_with_fields_still_needs_its_payload() {
    let (_, text) = bad_payload(decode::<ViewerToServer>(r#"{"type":"watch_request"}"#));
    assert!(text.contains("device_id"), "{text}");
}

#[test]
fn unknown_payload_fields_are_ignored_for_forward_compatibility() {
    let text = format!(
        r#"{{"type":"watch_request","payload":{{"device_id":"{DEVICE}","quality":"hd","layers":[1,2]}},"request_id":"r1","ts":7}}"#
    );
    let envelope = decode::<ViewerToServer>(&text).unwrap();
    assert_eq!(
        envelope.message,
        ViewerToServer::WatchRequest(ViewerWatchRequest::new(DeviceId::from(DEVICE)))
    );
    assert_eq!(envelope.request_id.as_deref(), Some("r1"));
    assert_eq!(envelope.ts, 7);
}

#[test]
fn unknown_envelope_fields_are_ignored_for_forward_compatibility() {
    let envelope = decode::<DeviceToServer>(
        r#"{"type":"heartbeat","payload":{"seq":3},"ts":9,"trace":"abc"}"#,
    )
    .unwrap();
    assert_eq!(envelope.message, DeviceToServer::Heartbeat(Heartbeat {}));
    assert_eq!(envelope.ts, 9);
}

#[test]
fn unknown_status_fields_are_ignored_and_missing_ones_default() {
    let envelope = decode::<DeviceToServer>(
        r#"{"type":"device_presence","payload":{"uptime_s":12,"fps":30},"ts":1}"#,
    )
    .unwrap();
    assert_eq!(
        envelope.message,
        DeviceToServer::DevicePresence(DeviceStatus {
            uptime_s: 12,
            ..DeviceStatus::default()
        })
    );
}

#[test]
fn an_unknown_end_reason_decodes_as_other() {
    let text = format!(
        r#"{{"type":"watch_ended","payload":{{"session_id":"{SESSION}","reason":"solar_flare"}},"ts":1}}"#
    );
    let ServerToViewer::WatchEnded(ended) = decode::<ServerToViewer>(&text).unwrap().message else {
        panic!("expected watch_ended");
    };
    assert_eq!(ended.reason, EndReason::Other);
    assert_eq!(ended.message, None);
}

#[test]
fn an_unknown_end_reason_from_a_device_decodes_as_other() {
    let text = format!(
        r#"{{"type":"end_watch","payload":{{"session_id":"{SESSION}","reason":"battery_low"}}}}"#
    );
    let DeviceToServer::EndWatch(end) = decode::<DeviceToServer>(&text).unwrap().message else {
        panic!("expected end_watch");
    };
    assert_eq!(end.reason, EndReason::Other);
}

#[test]
fn an_unknown_error_code_decodes_as_other() {
    let text =
        r#"{"type":"error","payload":{"code":"quota_exceeded","message":"too many cameras"}}"#;
    let ServerToDevice::Error(error) = decode::<ServerToDevice>(text).unwrap().message else {
        panic!("expected error");
    };
    assert_eq!(error.code, ErrorCode::Other);
    assert_eq!(error.message, "too many cameras");
}

#[test]
fn an_unknown_error_code_in_a_rest_error_body_decodes_as_other() {
    let body: ErrorResponse =
        serde_json::from_str(r#"{"error":{"code":"payment_required","message":"pay up"}}"#)
            .unwrap();
    assert_eq!(body.error.code, ErrorCode::Other);
}

#[test]
fn an_end_reason_or_error_code_that_is_not_a_string_is_a_bad_payload() {
    let text =
        format!(r#"{{"type":"watch_ended","payload":{{"session_id":"{SESSION}","reason":3}}}}"#);
    let (_, display) = bad_payload(decode::<ServerToViewer>(&text));
    assert!(display.contains("reason"), "{display}");
}

#[test]
fn wire_names_of_codes_and_reasons_match_their_serde_names() {
    for code in [
        ErrorCode::BadMessage,
        ErrorCode::UnknownType,
        ErrorCode::MessageTooLarge,
        ErrorCode::UnsupportedProtocol,
        ErrorCode::HelloRequired,
        ErrorCode::AlreadyHello,
        ErrorCode::RateLimited,
        ErrorCode::Unauthorized,
        ErrorCode::Forbidden,
        ErrorCode::NotFound,
        ErrorCode::Validation,
        ErrorCode::Conflict,
        ErrorCode::InvalidPairingCode,
        ErrorCode::PairingCodeExpired,
        ErrorCode::PairingCodeUsed,
        ErrorCode::DeviceOffline,
        ErrorCode::SessionNotFound,
        ErrorCode::MaxSessions,
        ErrorCode::DeviceRemoved,
        ErrorCode::Replaced,
        ErrorCode::HeartbeatTimeout,
        ErrorCode::SlowConsumer,
        ErrorCode::Unavailable,
        ErrorCode::PushDisabled,
        ErrorCode::Internal,
        ErrorCode::Other,
    ] {
        assert_eq!(serde_json::to_value(code).unwrap(), code.as_str());
        assert_eq!(code.to_string(), code.as_str());
        assert_eq!(
            serde_json::from_value::<ErrorCode>(code.as_str().into()).unwrap(),
            code
        );
    }
    for reason in [
        EndReason::ViewerLeft,
        EndReason::ViewerDisconnected,
        EndReason::DeviceEnded,
        EndReason::DeviceDisconnected,
        EndReason::MaxViewers,
        EndReason::Failed,
        EndReason::DeviceRemoved,
        EndReason::ServerShutdown,
        EndReason::Other,
    ] {
        assert_eq!(serde_json::to_value(reason).unwrap(), reason.as_str());
        assert_eq!(
            serde_json::from_value::<EndReason>(reason.as_str().into()).unwrap(),
            reason
        );
    }
}

#[test]
fn a_wrong_type_inside_a_nested_object_names_the_payload_field_holding_it() {
    let text = format!(
        r#"{{"type":"signal_ice","payload":{{"session_id":"{SESSION}","candidate":{{"candidate":"candidate:1 1 UDP 2015363327 192.168.1.23 47129 typ host","sdp_m_line_index":"zero"}}}}}}"#
    );
    let (_, display) = bad_payload(decode::<ViewerToServer>(&text));
    assert!(display.contains("`candidate`"), "{display}");
}

#[test]
fn an_unknown_ice_transport_policy_is_a_bad_payload_that_names_the_field() {
    let text = format!(
        r#"{{"type":"watch_ready","payload":{{"session_id":"{SESSION}","device_id":"{DEVICE}","ice_servers":[],"ice_transport_policy":"relay_only"}}}}"#
    );
    let (_, display) = bad_payload(decode::<ServerToViewer>(&text));
    assert!(display.contains("ice_transport_policy"), "{display}");
    assert!(display.contains("relay_only"), "{display}");
}
