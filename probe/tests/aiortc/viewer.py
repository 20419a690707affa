"""A stock aiortc viewer for the interoperability test (probe/tests/aiortc.rs).

The Rust test does the signaling with the server; this side is only the peer connection. It
reads JSON lines on stdin -- {"offer": sdp}, then {"candidate": {...}} or {"candidate": null}
for the end of the camera's candidates -- and writes JSON lines on stdout: {"answer": sdp},
{"state": ...} as the connection changes, {"first_frame_ms": ..., "width": ..., "height": ...}
when the first frame decodes, then {"frames": n, "seconds": s} once `frames` frames (argv[1])
have decoded. Times count from the offer's arrival. Any failure: {"error": ...} and exit 1.
"""

import asyncio
import json
import sys
import threading
import time

from aiortc import RTCPeerConnection, RTCSessionDescription
from aiortc.sdp import candidate_from_sdp


def emit(message):
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()


def stdin_lines(loop, queue):
    """Feeds stdin's lines to the asyncio queue from a plain thread (stdin may be a pipe)."""
    for line in sys.stdin:
        loop.call_soon_threadsafe(queue.put_nowait, line)
    loop.call_soon_threadsafe(queue.put_nowait, None)


async def watch(frames_wanted):
    loop = asyncio.get_running_loop()
    lines = asyncio.Queue()
    threading.Thread(target=stdin_lines, args=(loop, lines), daemon=True).start()

    pc = RTCPeerConnection()
    done = loop.create_future()
    started = None

    @pc.on("connectionstatechange")
    async def on_state():
        emit({"state": pc.connectionState})
        if pc.connectionState == "failed" and not done.done():
            done.set_exception(RuntimeError("the peer connection failed"))

    @pc.on("track")
    def on_track(track):
        if track.kind != "video":
            return

        async def decode():
            frames = 0
            try:
                while frames < frames_wanted:
                    frame = await track.recv()
                    frames += 1
                    if frames == 1:
                        emit({
                            "first_frame_ms": (time.monotonic() - started) * 1000,
                            "width": frame.width,
                            "height": frame.height,
                        })
                emit({"frames": frames, "seconds": time.monotonic() - started})
                if not done.done():
                    done.set_result(None)
            except Exception as error:  # the track ended early
                if not done.done():
                    done.set_exception(error)

        asyncio.ensure_future(decode())

    async def signaling():
        nonlocal started
        while True:
            line = await lines.get()
            if line is None:
                return
            message = json.loads(line)
            if "offer" in message:
                started = time.monotonic()
                await pc.setRemoteDescription(
                    RTCSessionDescription(sdp=message["offer"], type="offer"))
                await pc.setLocalDescription(await pc.createAnswer())
                emit({"answer": pc.localDescription.sdp})
            elif "candidate" in message:
                given = message["candidate"]
                if given is None:
                    await pc.addIceCandidate(None)
                    continue
                text = given["candidate"]
                if text.startswith("candidate:"):
                    text = text[len("candidate:"):]
                candidate = candidate_from_sdp(text)
                candidate.sdpMid = given.get("sdpMid")
                candidate.sdpMLineIndex = given.get("sdpMLineIndex")
                await pc.addIceCandidate(candidate)

    reader = asyncio.ensure_future(signaling())
    try:
        await done
    finally:
        reader.cancel()
        await pc.close()


def main():
    frames_wanted = int(sys.argv[1]) if len(sys.argv) > 1 else 30
    try:
        asyncio.run(watch(frames_wanted))
    except Exception as error:
        emit({"error": f"{type(error).__name__}: {error}"})
        sys.exit(1)


if __name__ == "__main__":
    main()
