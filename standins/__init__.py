"""Local stand-ins for the services the system talks to, used by the tests, the benchmarks and the local demo.

One module per stand-in, each of the common shape of ``standins.base`` (``start()``, ``address``, ``stop()``,
``wait_for(predicate, timeout)``, context manager):

- ``moto_server``   AWS itself (moto), with the data contract's tables on request;
- ``xray_daemon``   the X-Ray daemon's UDP listener, keeping every segment document;
- ``otlp_receiver`` the ADOT collector's OTLP/HTTP trace receiver, keeping every span (and dead collectors);
- ``http_fakes``    Tiingo, Finnhub and SendGrid, recording requests and failing on demand;
- ``function_url``  the SSE Function URL's CORS, as Lambda applies it;
- ``image``         the SSE image's build context and COPYs, as BuildKit would make them;
- ``demo``          the local demo: all of the above around the SSE app and the web page.

``python -m standins <name>`` runs one in the foreground (``--help`` lists them).
"""
