"""Open a socket off the machine (10.255.255.1: in the sandbox there is no route, so no packet is sent),
read the grader's environment for database passwords, and check the loopback still serves."""
import errno
import os
import socket

probe = socket.socket()
probe.settimeout(5)
try:
    probe.connect(("10.255.255.1", 80))
    print("LEAK connected off the machine")
except OSError as error:
    print("DENIED", errno.errorcode.get(error.errno, error.errno) if error.errno else type(error).__name__)
finally:
    probe.close()
print("LEAK environment" if any("password" in value for value in os.environ.values()) else "DENIED environment")
server = socket.create_server(("127.0.0.1", 0))
with socket.create_connection(server.getsockname(), timeout=5):
    print("LOOPBACK-OK")
server.close()
print("ATTACK-RAN network")
