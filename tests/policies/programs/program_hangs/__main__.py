"""Declares a queue, then waits for ever (issue 11: a program that hangs is ended at --timeout, exit 2)."""
import threading

import pulumi_aws as aws

aws.sqs.Queue("work")
threading.Event().wait()  # the hang: nothing ever sets it
