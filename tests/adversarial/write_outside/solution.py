targets = ["{GRADER}/grader/__init__.py", "{GRADER}/grader/pwned.py", "{OUT}/results/honest.json",
           "{OUT}/pwned.txt", "{CLASS}/honest/solution.py", "{REFERENCE}",
           "/proc/sys/kernel/hostname", "/proc/sysrq-trigger"]  # /proc is the sandbox's own; these are not
for target in targets:
    try:
        with open(target, "a") as handle:
            handle.write("\nPWNED = True\n")
        print("WROTE", target)
    except OSError as error:
        print("DENIED", target, type(error).__name__)
