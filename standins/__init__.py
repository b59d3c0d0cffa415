"""Local stand-ins for what the system runs on in AWS, for the tests and the demo; never deployed."""
