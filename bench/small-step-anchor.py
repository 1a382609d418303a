#!/usr/bin/python3
"""Anchor for bench/small-step.ts: the same small MLP (4-64-32-1, 2,433 float32 = 9.7 KB), Adam,
batch B per worker, on the same CSV, in PyTorch. WORLD=1 is a one-process loop; WORLD=2 is DDP over
Gloo on loopback, so DDP's own fixed cost per step for a tiny model comes from the same run.
Usage: /usr/bin/python3 small-step-anchor.py WORLD STEPS BATCH CSV
Prints one JSON line: median ms per step (after 20 warm-up steps)."""
import csv, json, os, statistics, sys, time
import torch, torch.nn as nn
import torch.distributed as dist
import torch.multiprocessing as mp


def load(path):
    with open(path) as f:
        rows = list(csv.DictReader(f))
    label = "price_k"
    feats = [k for k in rows[0] if k != label]
    x = torch.tensor([[float(r[k]) for k in feats] for r in rows])
    y = torch.tensor([[float(r[label])] for r in rows])
    x = (x - x.mean(0)) / x.std(0)
    y = (y - y.mean()) / y.std()
    return x, y


def run(rank, world, steps, batch, path, port, q):
    torch.set_num_threads(1)
    torch.manual_seed(0)
    x, y = load(path)
    model = nn.Sequential(nn.Linear(x.shape[1], 64), nn.ReLU(), nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 1))
    if world > 1:
        os.environ["MASTER_ADDR"] = "127.0.0.1"; os.environ["MASTER_PORT"] = str(port)
        dist.init_process_group("gloo", rank=rank, world_size=world)
        model = nn.parallel.DistributedDataParallel(model)
    opt = torch.optim.Adam(model.parameters(), lr=0.01)
    lossf = nn.MSELoss()
    n = x.shape[0]
    times = []
    for i in range(steps + 20):
        lo = ((i * world + rank) * batch) % (n - batch)
        t0 = time.perf_counter()
        opt.zero_grad(); loss = lossf(model(x[lo:lo + batch]), y[lo:lo + batch]); loss.backward(); opt.step()
        if i >= 20: times.append(time.perf_counter() - t0)
    if rank == 0:
        params = sum(p.numel() for p in model.parameters())
        q.put({"impl": "torch" if world == 1 else "torch-ddp-gloo", "world": world, "batch_per_worker": batch,
               "params": params, "step_ms": round(statistics.median(times) * 1e3, 4)})
    if world > 1:
        dist.destroy_process_group()


if __name__ == "__main__":
    world, steps, batch, path = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
    q = mp.get_context("spawn").SimpleQueue()
    mp.start_processes(run, args=(world, steps, batch, path, 29500 + os.getpid() % 200, q), nprocs=world,
                       start_method="spawn")
    while not q.empty(): print(json.dumps(q.get()))
