"""The project's contract: every rule that more than one layer needs, written once.

Standard library only, so every layer can import it: the components (``components/``) build resources from
it, the Lambdas (``contract`` is packaged into each zip and the SSE image) read and emit by it, the policy
pack (``policies/contract`` is a link to this package, so the pack stays publishable on its own) judges by
it, and the tests build their expectations from it rather than from a restated table.

Modules, one concern each:

- ``naming``    the ``{env}-sentiment-{name}`` rule;
- ``data``      DynamoDB tables, keys and indexes, time-series resolutions, the silent-failure paths;
- ``metrics``   custom metric namespaces, metric names, their dimensions, the fallback log line;
- ``alarms``    alarm classes and what missing data means for each, tag keys, severities, the latency band;
- ``xray``      the IAM actions a traced function needs, name and quota limits, annotation/document bounds;
- ``streaming`` the streaming function's OpenTelemetry and Lambda Web Adapter environment, its CORS;
- ``env``       the environment variables the program sets and the handlers read;
- ``api``       the dashboard API's routes (public or authorized) and its CORS;
- ``cost``      the X-Ray budget's notification amounts;
- ``distribution`` the installable distribution's name, version and console script.
"""
