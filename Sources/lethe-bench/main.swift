import LetheCore
print("lethe-bench: no benchmarks yet")
