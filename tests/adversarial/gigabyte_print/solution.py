import sys

chunk = "y" * (1 << 20)
for _ in range(1024):
    sys.stdout.write(chunk)
sys.stdout.write("z" * (1 << 28))  # and one 256 MB write in a single piece
