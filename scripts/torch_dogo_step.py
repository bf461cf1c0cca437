"""The DoGo training step of `sweep bench-step`, in PyTorch, for comparison.

Same model and loss: CIFAR-stem ResNets (3x3 stride-1 stem, no max-pool, no fc),
SimCLR head Linear(d,512,no bias)-BN-ReLU-Linear(512,128), NT-Xent at tau 0.5,
the DoGo KL of B x B cross-view softmaxes at tau 0.1 (element mean, weight 100),
both peers in one step, Adam lr 3e-4 wd 1e-6, random 32x32x3 images.
Prints one JSON line per mode (eager, compile).
Usage: python3 scripts/torch_dogo_step.py --archs resnet18+resnet50 --batch 256 --steps 20
"""
import argparse
import json
import time

import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision


def encoder(name):
    m = getattr(torchvision.models, name)(num_classes=10)
    m.conv1 = nn.Conv2d(3, 64, 3, 1, 1, bias=False)
    m.maxpool = nn.Identity()
    d = m.fc.in_features
    m.fc = nn.Identity()
    return m, d


class Peer(nn.Module):
    def __init__(self, name):
        super().__init__()
        self.f, d = encoder(name)
        self.g = nn.Sequential(nn.Linear(d, 512, bias=False), nn.BatchNorm1d(512), nn.ReLU(), nn.Linear(512, 128))

    def forward(self, x):
        return self.g(self.f(x))


def nt_xent(a, b, tau=0.5):
    z = F.normalize(torch.cat([a, b]), dim=1)
    n = a.shape[0]
    sim = z @ z.t() / tau
    sim.fill_diagonal_(-1e9)
    pos = torch.cat([torch.arange(n, 2 * n), torch.arange(0, n)]).to(a.device)
    return F.cross_entropy(sim, pos)


def cross_view(a, b, tau=0.1):
    return F.normalize(a, dim=1) @ F.normalize(b, dim=1).t() / tau


def kl(self_s, target_s):
    log_t = F.log_softmax(target_s, dim=1).detach()
    return (log_t.exp() * (log_t - F.log_softmax(self_s, dim=1))).sum() / self_s.numel()


def make_step(peers, opt, weight=100.0):
    def step(views):
        outs = []
        for p, (x, y) in zip(peers, views):
            z = p(torch.cat([x, y]))
            outs.append(z.chunk(2))
        loss = 0
        for k, (a, b) in enumerate(outs):
            loss = loss + nt_xent(a, b)
            if len(outs) == 2:
                o = outs[1 - k]
                loss = loss + weight * kl(cross_view(a, b), cross_view(o[0], o[1]))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return loss
    return step


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--archs", default="resnet18+resnet18")
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--modes", default="eager,compile")
    args = ap.parse_args()
    dev = torch.device("cuda")
    for mode in args.modes.split(","):
        torch.manual_seed(0)
        peers = [Peer(n).to(dev) for n in args.archs.split("+")]
        params = [q for p in peers for q in p.parameters()]
        opt = torch.optim.Adam(params, lr=3e-4, weight_decay=1e-6)
        step = make_step(peers, opt)
        if mode == "compile":
            step = torch.compile(step)
        views = [(torch.randn(args.batch, 3, 32, 32, device=dev), torch.randn(args.batch, 3, 32, 32, device=dev)) for _ in peers]
        t0 = time.time()
        step(views)
        torch.cuda.synchronize()
        first = time.time() - t0
        t0 = time.time()
        for _ in range(args.steps):
            step(views)
        torch.cuda.synchronize()
        sps = args.steps / (time.time() - t0)
        print(json.dumps({"impl": "torch-" + mode, "archs": args.archs, "batch": args.batch,
                          "first_step_s": first, "steps_per_s": sps, "images_per_s": sps * args.batch}), flush=True)


if __name__ == "__main__":
    main()
