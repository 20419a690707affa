//! What can be checked of `docker/` on a machine with no Docker engine: the compose file parses
//! and resolves with a real compose client (Debian's `docker-compose`), every service has a
//! health check and the server can be scaled; every path a Dockerfile copies exists and its
//! build runs `scripts/build-release`, the script CI runs; and the compose file's nginx.conf,
//! started by Debian's nginx in front of a real `mumu-server`, answers through to it.

mod common;

use common::cluster::program;
use common::shipped_nginx::{ShippedNginx, lan_cert};
use common::{free_port, start_server};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the workspace")
        .to_owned()
}

/// `docker-compose config` on `docker/compose.yaml` with `env` as the `.env` file, from a copy
/// of the checkout's layout (the compose file reads `../.env`, which a test must not write into
/// the checkout): a directory holding a link to `docker/` and the test's own `.env`.
fn compose_config(env: &str, extra: &[&str]) -> Output {
    let dir = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink(repo().join("docker"), dir.path().join("docker")).unwrap();
    let env_file = dir.path().join(".env");
    std::fs::write(&env_file, env).unwrap();
    Command::new(program("MUMU_DOCKER_COMPOSE", "docker-compose"))
        .arg("--env-file")
        .arg(&env_file)
        .arg("-f")
        .arg(dir.path().join("docker/compose.yaml"))
        .args(extra)
        .arg("config")
        .output()
        .expect("docker-compose runs")
}

/// The resolved file's services: name and the lines of its block.
fn services(config: &str) -> Vec<(String, Vec<String>)> {
    let mut services: Vec<(String, Vec<String>)> = Vec::new();
    let mut inside = false;
    for line in config.lines() {
        if !line.starts_with(' ') {
            inside = line == "services:";
            continue;
        }
        if !inside {
            continue;
        }
        match line.strip_prefix("  ") {
            Some(name) if !name.starts_with(' ') => {
                services.push((name.trim_end_matches(':').to_owned(), Vec::new()));
            }
            _ => services
                .last_mut()
                .expect("a service first")
                .1
                .push(line.trim().to_owned()),
        }
    }
    services
}

const SECRETS: &str =
    "POSTGRES_PASSWORD=pg-secret\nJWT_SECRET=jwt-secret\nTURN_SECRET=turn-secret\n";

#[test]
fn the_compose_file_resolves_with_a_real_compose_client() {
    let output = compose_config(SECRETS, &["--profile", "sim"]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "docker-compose config: {stderr}");
    let config = String::from_utf8(output.stdout).unwrap();
    let services = services(&config);
    let names: BTreeSet<&str> = services.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        BTreeSet::from(["camera", "coturn", "postgres", "proxy", "redis", "server"]),
        "{config}"
    );
    for (name, lines) in &services {
        assert!(
            lines.iter().any(|l| l == "healthcheck:"),
            "{name} has a health check:\n{config}"
        );
        for line in lines {
            assert!(
                !line.contains("pg-secret") || name == "postgres" || name == "server",
                "the database password reaches only PostgreSQL and the server: {name}: {line}"
            );
            assert!(
                !line.contains("jwt-secret") || name == "server",
                "the JWT secret reaches only the server: {name}: {line}"
            );
        }
        // A build context is the top of the repository, and its Dockerfile is there.
        if let Some(i) = lines.iter().position(|l| l == "build:") {
            let dockerfile = lines[i + 1..]
                .iter()
                .find_map(|l| l.strip_prefix("dockerfile: "))
                .expect("a dockerfile");
            assert!(
                repo().join(dockerfile).exists(),
                "{name} builds from {dockerfile}"
            );
        }
    }
    let server = &services.iter().find(|(n, _)| n == "server").unwrap().1;
    for wanted in [
        "DATABASE_URL: postgres://mumu:pg-secret@postgres:5432/mumu",
        "REDIS_URL: redis://redis:6379",
        "JWT_SECRET: jwt-secret",
        "TURN_SECRET: turn-secret",
        "MUMU_TRUST_PROXY: '1'",
        "test:",
    ] {
        assert!(
            server.iter().any(|l| l == wanted),
            "the server gets {wanted}:\n{server:#?}"
        );
    }
    // `--scale server=3` needs a server with no fixed host port and no fixed name.
    assert!(
        !server
            .iter()
            .any(|l| l == "ports:" || l.starts_with("container_name:")),
        "the server scales: {server:#?}"
    );
    let coturn = &services.iter().find(|(n, _)| n == "coturn").unwrap().1;
    assert!(coturn.iter().any(|l| l == "TURN_SECRET: turn-secret"));
}

/// `up` without `--profile sim` starts no simulated camera, and everything else with or without
/// it. (docker-compose 1.29's `config` lists every service whatever the profile, so the test reads
/// the profiles it resolved.)
#[test]
fn the_simulated_camera_is_in_the_sim_profile_alone() {
    let output = compose_config(SECRETS, &[]);
    assert!(output.status.success());
    let config = String::from_utf8(output.stdout).unwrap();
    for (name, lines) in services(&config) {
        let profiles: Vec<&String> = lines
            .iter()
            .skip_while(|l| *l != "profiles:")
            .skip(1)
            .take_while(|l| l.starts_with("- "))
            .collect();
        if name == "camera" {
            assert_eq!(profiles, ["- sim"], "{config}");
        } else {
            assert!(
                profiles.is_empty(),
                "{name} starts without a profile: {profiles:?}"
            );
        }
    }
}

#[test]
fn a_missing_secret_stops_compose_and_names_it() {
    for missing in ["POSTGRES_PASSWORD", "JWT_SECRET", "TURN_SECRET"] {
        let env: String = SECRETS
            .lines()
            .filter(|l| !l.starts_with(missing))
            .map(|l| format!("{l}\n"))
            .collect();
        let output = compose_config(&env, &[]);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "{missing} is required");
        assert!(
            stderr.contains(&format!("set {missing} in .env")),
            "the error names {missing}: {stderr}"
        );
    }
}

/// A Dockerfile's instructions, with continuation lines joined and comments left out.
fn instructions(dockerfile: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(dockerfile).unwrap();
    let mut out = Vec::new();
    let mut current = String::new();
    for line in text.lines() {
        let line = line.trim();
        if line.starts_with('#') || (line.is_empty() && current.is_empty()) {
            continue;
        }
        match line.strip_suffix('\\') {
            Some(part) => current.push_str(part),
            None => {
                current.push_str(line);
                out.push(std::mem::take(&mut current));
            }
        }
    }
    out
}

#[test]
fn every_path_a_dockerfile_copies_exists_and_builds_run_the_ci_script() {
    let ignored = std::fs::read_to_string(repo().join(".dockerignore")).unwrap();
    for secret_or_output in [".env", "target", ".git", "data"] {
        assert!(
            ignored.lines().any(|l| l == secret_or_output),
            ".dockerignore keeps {secret_or_output} out of the build context"
        );
    }
    let dockerfiles: Vec<PathBuf> = std::fs::read_dir(repo().join("docker"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "Dockerfile"))
        .collect();
    assert_eq!(dockerfiles.len(), 3, "{dockerfiles:?}");
    for dockerfile in &dockerfiles {
        let name = dockerfile.file_name().unwrap().to_string_lossy();
        let instructions = instructions(dockerfile);
        // What the build stage leaves in OUT is what the last stage copies.
        let built_into: Vec<String> = instructions
            .iter()
            .filter(|i| i.starts_with("RUN ") && i.contains("scripts/build-release"))
            .map(|i| i.split_whitespace().last().unwrap().to_owned())
            .collect();
        for copy in instructions.iter().filter(|i| i.starts_with("COPY ")) {
            let words: Vec<&str> = copy.split_whitespace().skip(1).collect();
            let (from, paths): (Vec<&str>, Vec<&str>) =
                words.iter().partition(|w| w.starts_with("--"));
            let sources = &paths[..paths.len() - 1];
            if from.iter().any(|f| f.starts_with("--from=")) {
                for source in sources {
                    assert!(
                        built_into
                            .iter()
                            .any(|out| source.trim_end_matches('/') == out),
                        "{name}: {copy} copies what `scripts/build-release ... OUT` staged"
                    );
                }
            } else {
                for source in sources.iter().filter(|s| **s != ".") {
                    assert!(
                        repo().join(source).exists(),
                        "{name}: {copy}: {source} exists"
                    );
                }
            }
        }
        if instructions.iter().any(|i| i.contains(" AS build")) {
            assert_eq!(
                built_into.len(),
                1,
                "{name} builds with scripts/build-release"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_compose_nginx_config_serves_the_server_through_debians_nginx() {
    let dir = tempfile::tempdir().unwrap();
    let server_port = free_port();
    let _server = start_server(dir.path(), server_port, &[]).await;
    let nginx = ShippedNginx::start(&dir.path().join("nginx"), server_port, None).await;
    let get = async |path: &str| {
        let response = reqwest::get(format!("http://127.0.0.1:{}{path}", nginx.http))
            .await
            .unwrap();
        (response.status().as_u16(), response.text().await.unwrap())
    };
    assert_eq!(get("/nginx-health").await, (200, "ok\n".into()));
    let (status, body) = get("/readyz").await;
    assert_eq!(status, 200, "the server's /readyz through nginx: {body}");
    assert!(body.contains("\"status\":\"ok\""), "{body}");
}

/// `docker/compose.tls.yaml` over the compose file: nginx publishes https beside http, with the
/// shipped TLS server block and the folder `MUMU_TLS_DIR` names; without that folder, compose
/// stops and says what to set.
#[test]
fn the_tls_compose_file_adds_https_to_the_proxy() {
    let tls = repo().join("docker/compose.tls.yaml");
    let tls = tls.to_str().unwrap();
    let env = format!("{SECRETS}MUMU_TLS_DIR=../certs\nMUMU_HTTPS_PORT=9443\n");
    let output = compose_config(&env, &["-f", tls]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "docker-compose config: {stderr}");
    let config = String::from_utf8(output.stdout).unwrap();
    let services = services(&config);
    let proxy = &services.iter().find(|(n, _)| n == "proxy").unwrap().1;
    let joined = proxy.join("\n");
    for wanted in [
        "- published: 9443\ntarget: 443",
        "- published: 8080\ntarget: 80",
    ] {
        assert!(joined.contains(wanted), "the proxy has {wanted}:\n{joined}");
    }
    assert!(
        joined.contains("/etc/nginx/mumu/tls/mumu-tls.conf") && joined.contains("/etc/nginx/certs"),
        "the TLS block and the certificates are mounted:\n{joined}"
    );
    let output = compose_config(SECRETS, &["-f", tls]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "MUMU_TLS_DIR is required");
    assert!(stderr.contains("set MUMU_TLS_DIR in .env"), "{stderr}");
}

/// The shipped TLS block, with a certificate from `scripts/lan-cert` (the documented way for a
/// LAN), in front of a real server: a client that trusts the LAN's CA reaches the server over
/// https at the certificate's name and at its address; one that does not is refused, as a
/// phone without the CA installed would be.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_tls_nginx_config_serves_https_with_a_certificate_from_lan_cert() {
    let dir = tempfile::tempdir().unwrap();
    let certs = dir.path().join("certs");
    lan_cert(&certs, &["mumu.lan", "127.0.0.1"]);
    let server_port = free_port();
    let _server = start_server(dir.path(), server_port, &[]).await;
    let nginx = ShippedNginx::start(&dir.path().join("nginx"), server_port, Some(&certs)).await;
    let https = nginx.https.unwrap();
    let ca = reqwest::Certificate::from_pem(&std::fs::read(certs.join("ca.crt")).unwrap()).unwrap();
    let trusting = reqwest::Client::builder()
        .add_root_certificate(ca)
        .tls_built_in_root_certs(false)
        .resolve("mumu.lan", ([127, 0, 0, 1], https).into())
        .build()
        .unwrap();
    for url in [
        format!("https://mumu.lan:{https}/readyz"),
        format!("https://127.0.0.1:{https}/readyz"),
    ] {
        let response = trusting
            .get(&url)
            .send()
            .await
            .unwrap_or_else(|e| panic!("{url}: {e:?}"));
        assert_eq!(response.status(), 200, "{url}");
        assert!(response.text().await.unwrap().contains("\"status\":\"ok\""));
    }
    let stranger = reqwest::Client::builder()
        .resolve("mumu.lan", ([127, 0, 0, 1], https).into())
        .build()
        .unwrap();
    let refused = stranger
        .get(format!("https://mumu.lan:{https}/readyz"))
        .send()
        .await;
    assert!(
        refused.is_err(),
        "a client without the CA refuses the certificate"
    );
    // The plain port still serves (the cameras' way in).
    let plain = reqwest::get(format!("http://127.0.0.1:{}/nginx-health", nginx.http))
        .await
        .unwrap();
    assert_eq!(plain.status(), 200);
}
