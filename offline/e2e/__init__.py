"""``python -m offline e2e``: the system as one, on this machine, from the program's own declarations.

1. run the program under the mock runtime (``--update`` semantics) and take every resource's inputs;
2. create what moto can hold in a moto server with IAM enforced (``account``);
3. run each handler as Lambda runs it: its packaged archive, its declared environment, its own role's
   credentials, a fresh trace header, its declared timeout (``runtime``); SNS delivers with the publisher's
   trace; the dashboard sits behind an API Gateway emulation built from the declared routes (``apigateway``);
4. drive the flows (``flows``) and judge what was observed (``checks``).

Exit 0 when every check holds, 1 when one fails, 2 when the run itself could not be done.
"""
