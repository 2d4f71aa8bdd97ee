#!/usr/bin/env python3
"""PyTorch peer for scripts/bench: the same ops at the same shapes, 2 threads, median time.
Prints one JSON object {name: seconds}. Developer tool: needs torch (pip), never used by tests."""
import json, statistics, sys, time
import torch
import torch.nn.functional as F

torch.set_num_threads(2)
torch.manual_seed(0)


def median_time(fn, repeats, warmup=2):
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def gemm():
    a, b = torch.randn(1024, 1024), torch.randn(1024, 1024)
    return median_time(lambda: torch.mm(a, b), 20)


def conv2d():
    x = torch.randn(32, 64, 32, 32, requires_grad=True)
    w = torch.randn(64, 64, 3, 3, requires_grad=True)
    b = torch.randn(64, requires_grad=True)
    g = torch.randn(32, 64, 32, 32)

    def step():
        x.grad = w.grad = b.grad = None
        F.conv2d(x, w, b, padding=1).backward(g)
    return median_time(step, 10)


def attention():
    B, H, L, D = 32, 4, 256, 32
    q, k, v = (torch.randn(B, L, H * D, requires_grad=True) for _ in range(3))
    g = torch.randn(B, L, H * D)

    def step():
        q.grad = k.grad = v.grad = None
        split = lambda t: t.view(B, L, H, D).transpose(1, 2)
        o = F.scaled_dot_product_attention(split(q), split(k), split(v))
        o.transpose(1, 2).reshape(B, L, H * D).backward(g)
    return median_time(step, 10)


BENCHES = {"gemm_1024": gemm, "conv2d_fwd_bwd": conv2d, "attention_fwd_bwd": attention}

if __name__ == "__main__":
    names = sys.argv[1:] or list(BENCHES)
    print(json.dumps({n: BENCHES[n]() for n in names if n in BENCHES}))
