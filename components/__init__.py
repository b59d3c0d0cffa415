"""Reusable ComponentResources that make the tracing and alarm rules impossible to forget.

Import what you need: ``from components.traced_lambda import TracedLambda, TracedLambdaArgs``; the alarm
semantics live in ``components.alarms`` alone.
"""
