blocks = []
while True:
    blocks.append(bytearray(256 << 20))
