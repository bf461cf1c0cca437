"""The DoGo training step of `sweep bench-step`, in PyTorch, for comparison.

Same model and loss: CIFAR-stem ResNets (3x3 stride-1 stem, no max-pool, no fc),
or the CPU encoders of the architecture registry (job/arch.go: MLPs on 784
pixels, CNNs of 3x3 convolutions with padding 1 and a global average pool, or
2x2-grid pooling for the -g2 CNNs) on
28x28 grey images (--dataset fashion-mnist), whose views are a random resized
crop (scale .3..1), a flip and Gaussian noise of std .1, as GoMLX makes them;
SimCLR head Linear(d,512,no bias)-BN-ReLU-Linear(512,128), NT-Xent at tau 0.5,
the DoGo KL of B x B cross-view softmaxes at tau 0.1 (element mean, weight 100),
both peers in one step, Adam lr 3e-4 wd 1e-6, random 32x32x3 uint8 images.
Like GoMLX's step, the step makes each peer's two views on the GPU (random
resized crop and flip through affine_grid/grid_sample, brightness, contrast,
saturation, hue as a YIQ rotation, grayscale); --no-augment hands it ready views.
Prints one JSON line per mode (eager, compile).
Usage: python3 scripts/torch_dogo_step.py --archs resnet18+resnet50 --batch 256 --steps 20
"""
import argparse
import json
import math
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


# The CPU encoders of job/arch.go.
MLPS = {"mlp-s": [256, 128], "mlp-m": [512, 256], "mlp-l": [1024, 1024, 512]}
CNNS = {"cnn-s": [16, 32, 64], "cnn-m": [32, 64, 64], "cnn-l": [32, 64, 128]}
STRIDES = [2, 2, 1]


def encoder(name, channels=3):
    if name in MLPS:
        layers, d = [nn.Flatten()], 784
        for w in MLPS[name]:
            layers += [nn.Linear(d, w), nn.ReLU()]
            d = w
        return nn.Sequential(*layers), d
    # cnn-X-g2: the last feature map averaged over a 2x2 grid, not globally.
    base, grid = (name[:-3], 2) if name.endswith("-g2") else (name, 1)
    if base in CNNS:
        layers, c = [], channels
        for w, s in zip(CNNS[base], STRIDES):
            layers += [nn.Conv2d(c, w, 3, s, 1), nn.ReLU()]
            c = w
        return nn.Sequential(*layers, nn.AdaptiveAvgPool2d(grid), nn.Flatten()), c * grid * grid
    import torchvision  # the ResNets only: the CPU encoders run without it

    m = getattr(torchvision.models, name)(num_classes=10)
    m.conv1 = nn.Conv2d(3, 64, 3, 1, 1, bias=False)
    m.maxpool = nn.Identity()
    d = m.fc.in_features
    m.fc = nn.Identity()
    return m, d


class Peer(nn.Module):
    def __init__(self, name, channels=3):
        super().__init__()
        self.f, d = encoder(name, channels)
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


MEAN = torch.tensor([0.4914, 0.4822, 0.4465]).view(1, 3, 1, 1)
STD = torch.tensor([0.247, 0.243, 0.261]).view(1, 3, 1, 1)
LUMA = torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)
TO_YIQ = torch.tensor([[0.299, 0.587, 0.114], [0.596, -0.274, -0.322], [0.211, -0.523, 0.312]])


GREY_MEAN, GREY_STD = 0.2860, 0.3530


def grey_views_of(images):
    """One view per image of a uint8 N1HW grey batch: crop (scale .3..1), flip, noise."""
    n, dev = images.shape[0], images.device
    x = images.float() / 255
    x = F.grid_sample(x, crop_grid(n, x.shape, 0.3, dev), mode="bilinear", padding_mode="border", align_corners=False)
    x = x + 0.1 * torch.randn_like(x)
    return (x - GREY_MEAN) / GREY_STD


def crop_grid(n, shape, min_scale, dev):
    """The sampling grid of a random resized crop and flip, as an affine map."""
    area = min_scale + (1 - min_scale) * torch.rand(n, device=dev)
    logr = torch.empty(n, device=dev).uniform_(math.log(3 / 4), math.log(4 / 3))
    w = torch.sqrt(area * logr.exp()).clamp(max=1)
    h = torch.sqrt(area / logr.exp()).clamp(max=1)
    cx = (torch.rand(n, device=dev) * (1 - w) + w / 2) * 2 - 1
    cy = (torch.rand(n, device=dev) * (1 - h) + h / 2) * 2 - 1
    flip = torch.where(torch.rand(n, device=dev) < 0.5, -1.0, 1.0)
    theta = torch.zeros(n, 2, 3, device=dev)
    theta[:, 0, 0], theta[:, 0, 2], theta[:, 1, 1], theta[:, 1, 2] = w * flip, cx, h, cy
    return F.affine_grid(theta, list(shape), align_corners=False)


def views_of(images):
    """One SimCLR view per image of a uint8 NCHW batch, made on its device."""
    n, dev = images.shape[0], images.device
    if images.shape[1] == 1:
        return grey_views_of(images)
    x = images.float() / 255
    # Random resized crop (scale .08..1, ratio 3/4..4/3) and flip.
    x = F.grid_sample(x, crop_grid(n, x.shape, 0.08, dev), mode="bilinear", padding_mode="border", align_corners=False)
    # Colour jitter with p=.8, grayscale with p=.2.
    on = (torch.rand(n, 1, 1, 1, device=dev) < 0.8).float()
    jit = lambda s: 1 + on * (torch.rand(n, 1, 1, 1, device=dev) * 2 - 1) * s
    luma = LUMA.to(dev)
    gray = lambda v: (v * luma).sum(1, keepdim=True)
    x = (x * jit(0.8)).clamp(0, 1)
    m = gray(x).mean((2, 3), keepdim=True)
    x = (m + (x - m) * jit(0.8)).clamp(0, 1)
    g = gray(x)
    x = (g + (x - g) * jit(0.8)).clamp(0, 1)
    t = on.view(n) * (torch.rand(n, device=dev) * 2 - 1) * 0.2 * 2 * math.pi
    to_yiq = TO_YIQ.to(dev)
    rot = torch.zeros(n, 3, 3, device=dev)
    rot[:, 0, 0], rot[:, 1, 1], rot[:, 2, 2] = 1, t.cos(), t.cos()
    rot[:, 1, 2], rot[:, 2, 1] = -t.sin(), t.sin()
    mat = torch.linalg.inv(to_yiq) @ rot @ to_yiq
    x = torch.einsum("ndc,nchw->ndhw", mat, x).clamp(0, 1)
    gf = (torch.rand(n, 1, 1, 1, device=dev) < 0.2).float()
    x = gf * gray(x) + (1 - gf) * x
    return (x - MEAN.to(dev)) / STD.to(dev)


def make_step(peers, opt, weight=100.0, augment=True):
    def step(batch):
        views = [(views_of(batch), views_of(batch)) for _ in peers] if augment else batch
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
    ap.add_argument("--no-augment", action="store_true", help="hand the step ready views")
    ap.add_argument("--device", default="cuda", help="cuda, or cpu")
    ap.add_argument("--dataset", default="cifar10", help="cifar10 (32x32x3) or fashion-mnist (28x28x1)")
    ap.add_argument("--threads", type=int, default=0, help="CPU threads (0: PyTorch's default)")
    args = ap.parse_args()
    dev = torch.device(args.device)
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    side, ch = (28, 1) if args.dataset == "fashion-mnist" else (32, 3)
    sync = torch.cuda.synchronize if dev.type == "cuda" else (lambda: None)
    for mode in args.modes.split(","):
        torch.manual_seed(0)
        peers = [Peer(n, ch).to(dev) for n in args.archs.split("+")]
        params = [q for p in peers for q in p.parameters()]
        opt = torch.optim.Adam(params, lr=3e-4, weight_decay=1e-6)
        step = make_step(peers, opt, augment=not args.no_augment)
        if mode == "compile":
            step = torch.compile(step)
        if args.no_augment:
            views = [(torch.randn(args.batch, ch, side, side, device=dev), torch.randn(args.batch, ch, side, side, device=dev)) for _ in peers]
        else:
            views = torch.randint(0, 256, (args.batch, ch, side, side), dtype=torch.uint8, device=dev)
        t0 = time.time()
        step(views)
        sync()
        first = time.time() - t0
        times = []
        for _ in range(args.steps):
            t0 = time.time()
            step(views)
            sync()
            times.append(time.time() - t0)
        sps = len(times) / sum(times)
        impl = "torch-" + mode + ("-ready-views" if args.no_augment else "")
        print(json.dumps({"impl": impl, "archs": args.archs, "batch": args.batch, "threads": torch.get_num_threads(),
                          "first_step_s": first, "steps_per_s": sps, "images_per_s": sps * args.batch,
                          "mean_step_s": sum(times) / len(times), "median_step_s": sorted(times)[len(times) // 2]}), flush=True)


if __name__ == "__main__":
    main()
