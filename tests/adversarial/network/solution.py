import socket

for host, port in (("1.1.1.1", 80), ("8.8.8.8", 53), ("127.0.0.1", int("{PORT}"))):
    try:
        with socket.create_connection((host, port), timeout=3) as connection:
            connection.sendall(b"exfiltrated")
            print("CONNECTED", host, port)
    except OSError as error:
        print("BLOCKED", host, port, type(error).__name__)
