"""Run the SSE app off AWS, the way the Function URL fronts it: with its CORS (``function_url.FunctionUrlCors``).

``app`` here is the production ``handlers.sse.app:app`` wrapped in the Function URL's CORS, for the browser
tests and the demo (set ``SSE_LOCAL_CORS_ORIGINS``, comma-separated, default ``*``). Never deployed: in AWS
the Function URL does CORS itself and the image serves ``handlers.sse.app:app``.

``python -m standins.demo`` runs the whole demo on this machine: a moto server with the tables, an OTLP
receiver that prints the spans, the app on :8080, the web page on :8000, and a new analysed item every
two seconds. Open http://localhost:8000/index.html?sse=http://localhost:8080&sampled=1

The configuration stream verifies Cognito tokens (``handlers/sse/auth.py``), so the demo also makes a moto user
pool, a signed-in user and one configuration of theirs, and prints the ``curl`` that streams it with the
user's ID token.
"""
from __future__ import annotations

import os
from datetime import UTC

from handlers.sse.app import app as sse_app
from standins.function_url import FunctionUrlCors

#: Comma-separated origins the emulated Function URL allows (the browser tests name the page's origin).
CORS_ORIGINS_ENV = "SSE_LOCAL_CORS_ORIGINS"

app = FunctionUrlCors(sse_app, allow_origins=[o.strip() for o in os.environ.get(CORS_ORIGINS_ENV, "*").split(",")
                                              if o.strip()])


def main() -> None:  # pragma: no cover - interactive demo
    import argparse
    import functools
    import random
    import threading
    import time
    import uuid
    from datetime import datetime
    from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
    from pathlib import Path

    import boto3
    import uvicorn

    from contract import env as names
    from contract.data import SENTIMENTS, configuration_key
    from contract.streaming import otel_environment
    from standins.moto_server import MotoServer
    from standins.otlp_receiver import OtlpReceiver
    from standins.user_pool import UserPool

    parser = argparse.ArgumentParser(description="SSE demo: moto + OTLP receiver + app + web page")
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument("--web-port", type=int, default=8000)
    args = parser.parse_args()
    web_dir = Path(__file__).resolve().parents[1] / "web"

    with MotoServer() as moto, OtlpReceiver() as rx:
        tables = moto.create_tables("dev")
        pool = UserPool.create(moto, "demo")
        os.environ.update({
            **otel_environment(), names.ENVIRONMENT: "dev", **tables, "OTEL_EXPORTER_OTLP_ENDPOINT": rx.endpoint,
            names.SSE_POLL_INTERVAL_SECONDS: "1", names.SSE_HEARTBEAT_SECONDS: "10", "AWS_ENDPOINT_URL": moto.endpoint,
            names.COGNITO_ISSUER: pool.issuer, names.COGNITO_CLIENT_ID: pool.client_id,
            "AWS_REGION": "us-east-1", "AWS_DEFAULT_REGION": "us-east-1"})
        user = pool.sign_in("demo@example.com")
        boto3.resource("dynamodb", endpoint_url=moto.endpoint).Table(tables[names.USERS_TABLE]).put_item(
            Item={**configuration_key(user.sub, "demo"), "tickers": ["AAPL", "NVDA"], "entity_type": "config"})
        web = ThreadingHTTPServer(("127.0.0.1", args.web_port),
                                  functools.partial(SimpleHTTPRequestHandler, directory=str(web_dir)))
        threading.Thread(target=web.serve_forever, daemon=True).start()
        table = boto3.resource("dynamodb", endpoint_url=moto.endpoint).Table(tables[names.ITEMS_TABLE])

        def feed() -> None:
            while True:
                now = datetime.now(UTC).isoformat()
                ticker = random.choice(["AAPL", "MSFT", "NVDA", "AMZN"])
                table.put_item(Item={"source_id": f"demo#{uuid.uuid4().hex[:8]}", "timestamp": now,
                                     "analyzed_at": now, "status": "analyzed", "tag": ticker, "tickers": [ticker],
                                     "sentiment": random.choice(SENTIMENTS), "title": f"{ticker} moves"})
                time.sleep(2)

        def spans() -> None:
            seen = 0

            def more(got: list) -> bool:
                return len(got) > seen

            while True:
                got = rx.wait_for(more, timeout=3600)
                for s in got[seen:]:
                    print(f"span {s.xray_trace_id} {s.name:<26} {s.status:<5} {s.annotations}", flush=True)
                seen = len(got)

        threading.Thread(target=feed, daemon=True).start()
        threading.Thread(target=spans, daemon=True).start()
        print(f"demo: http://localhost:{args.web_port}/index.html?sse=http://localhost:{args.port}&sampled=1", flush=True)
        print(f"configuration stream of {user.sub} (AAPL, NVDA): curl -N -H 'Authorization: Bearer {user.id_token}' "
              f"http://localhost:{args.port}/api/v2/configurations/demo/stream", flush=True)
        uvicorn.run("standins.demo:app", host="127.0.0.1", port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
