"""The ``xray-exclusive-tracing`` CrossGuard pack. The rules live in ``policies.xray_rules`` (importable
without starting a server); ``__main__.py`` only builds the ``PolicyPack`` for the Pulumi CLI."""
