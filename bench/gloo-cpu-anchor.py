#!/usr/bin/python3
"""CPU beside time for Gloo's all-reduce (bench/allreduce.ts --gloo-cpu). The shared anchor
(../shared/anchors/gloo_allreduce.py) gives Gloo's time; on a shared machine time moves 20-30% from
run to run while CPU per rank per all-reduce barely does, so this measures that, the same way the
ring's ranks do: each timed all_reduce runs after a barrier, and only the all_reduce is counted
(getrusage of the whole process, Gloo's I/O threads included).

Usage: /usr/bin/python3 gloo-cpu-anchor.py WORLD ITERS MB [MB ...]
Prints one JSON line per size: mean over ranks of CPU seconds (user + system) and system seconds per
all-reduce, and rank 0's median seconds."""
import json, os, resource, statistics, sys, time
import torch
import torch.distributed as dist
import torch.multiprocessing as mp


def run(rank, world, iters, sizes_mb, port, q):
    os.environ["MASTER_ADDR"] = "127.0.0.1"
    os.environ["MASTER_PORT"] = str(port)
    torch.set_num_threads(1)
    dist.init_process_group("gloo", rank=rank, world_size=world)
    for mb in sizes_mb:
        t = torch.ones(int(mb * 1024 * 1024 // 4), dtype=torch.float32)
        for _ in range(3):
            dist.all_reduce(t)
        cpu = sys_s = 0.0
        times = []
        for _ in range(iters):
            dist.barrier()
            r0, t0 = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
            dist.all_reduce(t)
            times.append(time.perf_counter() - t0)
            r1 = resource.getrusage(resource.RUSAGE_SELF)
            cpu += (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)
            sys_s += r1.ru_stime - r0.ru_stime
        q.put({"rank": rank, "mb": mb, "cpu_s": cpu / iters, "sys_s": sys_s / iters, "median_s": statistics.median(times)})
    dist.destroy_process_group()


if __name__ == "__main__":
    world, iters, sizes = int(sys.argv[1]), int(sys.argv[2]), [float(x) for x in sys.argv[3:]]
    q = mp.get_context("spawn").SimpleQueue()
    mp.start_processes(run, args=(world, iters, sizes, 29300 + os.getpid() % 200, q), nprocs=world, start_method="spawn")
    lines = []
    while not q.empty():
        lines.append(q.get())
    for mb in sizes:
        per = [l for l in lines if l["mb"] == mb]
        print(json.dumps({"world": world, "mb": mb, "cpu_s_per_rank_per_iter": sum(l["cpu_s"] for l in per) / len(per),
                          "sys_s_per_rank_per_iter": sum(l["sys_s"] for l in per) / len(per),
                          "rank0_median_s": next(l["median_s"] for l in per if l["rank"] == 0)}))
