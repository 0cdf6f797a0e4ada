"""PyTorch re-statements of two segmenters, for parity tests (never imported by the package).

Written from the original sources, module for module, so that `state_dict()` key names and shapes
equal the official checkpoints':
- fyu/drn: drn.py (`Bottleneck`, `DRN` arch 'D', `drn_d_105`) and segment.py (`DRNSeg`,
  `fill_up_weights`), checkpoint `drn_d_105_cityscapes.pth` (`base.*`, `seg.*`, `up.weight`);
- kazuto1011/deeplab-pytorch: libs/models/resnet.py (`_ConvBnReLU`, `_Bottleneck`, `_ResLayer`,
  `_Stem`), deeplabv2.py (`_ASPP`, `DeepLabV2`) and msc.py (`MSC`), checkpoint
  `deeplabv2_resnet101_msc-cocostuff164k-100000.pth` (`base.layer1.conv1.conv.weight`, ...).
Only inference paths are kept (no pretrained downloads, no training outputs). UperNet uses the
real `mit-semseg` package instead.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


# ------------------------------------------------------------------------------------------------
# fyu/drn
# ------------------------------------------------------------------------------------------------
class DRNBottleneck(nn.Module):
    expansion = 4

    def __init__(self, inplanes, planes, stride=1, downsample=None, dilation=(1, 1), residual=True):
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, kernel_size=1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, kernel_size=3, stride=stride, padding=dilation[1],
                               bias=False, dilation=dilation[1])
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, planes * 4, kernel_size=1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes * 4)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x):
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        residual = x if self.downsample is None else self.downsample(x)
        return self.relu(out + residual)


class DRND(nn.Module):
    """drn.py `DRN(Bottleneck, layers, arch='D')`; avgpool/fc kept so `children()[:-2]` is `base`."""

    def __init__(self, layers, channels=(16, 32, 64, 128, 256, 512, 512, 512), num_classes=1000):
        super().__init__()
        self.inplanes = channels[0]
        self.out_dim = channels[-1]
        self.layer0 = nn.Sequential(nn.Conv2d(3, channels[0], 7, 1, 3, bias=False),
                                    nn.BatchNorm2d(channels[0]), nn.ReLU(inplace=True))
        self.layer1 = self._make_conv_layers(channels[0], layers[0], stride=1)
        self.layer2 = self._make_conv_layers(channels[1], layers[1], stride=2)
        self.layer3 = self._make_layer(channels[2], layers[2], stride=2)
        self.layer4 = self._make_layer(channels[3], layers[3], stride=2)
        self.layer5 = self._make_layer(channels[4], layers[4], dilation=2, new_level=False)
        self.layer6 = None if layers[5] == 0 else self._make_layer(channels[5], layers[5], dilation=4,
                                                                   new_level=False)
        self.layer7 = None if layers[6] == 0 else self._make_conv_layers(channels[6], layers[6], dilation=2)
        self.layer8 = None if layers[7] == 0 else self._make_conv_layers(channels[7], layers[7], dilation=1)
        self.avgpool = nn.AvgPool2d(28)
        self.fc = nn.Conv2d(self.out_dim, num_classes, kernel_size=1, bias=True)

    def _make_layer(self, planes, blocks, stride=1, dilation=1, new_level=True):
        downsample = None
        if stride != 1 or self.inplanes != planes * 4:
            downsample = nn.Sequential(nn.Conv2d(self.inplanes, planes * 4, 1, stride=stride, bias=False),
                                       nn.BatchNorm2d(planes * 4))
        first = (1, 1) if dilation == 1 else (dilation // 2 if new_level else dilation, dilation)
        layers = [DRNBottleneck(self.inplanes, planes, stride, downsample, dilation=first)]
        self.inplanes = planes * 4
        layers += [DRNBottleneck(self.inplanes, planes, dilation=(dilation, dilation)) for _ in range(1, blocks)]
        return nn.Sequential(*layers)

    def _make_conv_layers(self, channels, convs, stride=1, dilation=1):
        modules = []
        for i in range(convs):
            modules += [nn.Conv2d(self.inplanes, channels, 3, stride=stride if i == 0 else 1,
                                  padding=dilation, bias=False, dilation=dilation),
                        nn.BatchNorm2d(channels), nn.ReLU(inplace=True)]
            self.inplanes = channels
        return nn.Sequential(*modules)


def fill_up_weights(up):
    w = up.weight.data
    f = math.ceil(w.size(2) / 2)
    c = (2 * f - 1 - f % 2) / (2.0 * f)
    for i in range(w.size(2)):
        for j in range(w.size(3)):
            w[0, 0, i, j] = (1 - math.fabs(i / f - c)) * (1 - math.fabs(j / f - c))
    for ch in range(1, w.size(0)):
        w[ch, 0, :, :] = w[0, 0, :, :]


class DRNSeg(nn.Module):
    """segment.py `DRNSeg(model_name, classes, pretrained=False)`; forward returns (log_softmax(up), seg)."""

    def __init__(self, classes=19, layers=(1, 1, 3, 4, 23, 3, 1, 1),
                 channels=(16, 32, 64, 128, 256, 512, 512, 512)):
        super().__init__()
        model = DRND(layers, channels)
        self.base = nn.Sequential(*list(model.children())[:-2])
        self.seg = nn.Conv2d(model.out_dim, classes, kernel_size=1, bias=True)
        self.softmax = nn.LogSoftmax(dim=1)
        self.up = nn.ConvTranspose2d(classes, classes, 16, stride=8, padding=4, output_padding=0,
                                     groups=classes, bias=False)
        fill_up_weights(self.up)

    def logits(self, x):
        """The scores segment.py's `test` argmaxes (before its LogSoftmax)."""
        return self.up(self.seg(self.base(x)))

    def forward(self, x):
        x = self.seg(self.base(x))
        return self.softmax(self.up(x)), x


# ------------------------------------------------------------------------------------------------
# kazuto1011/deeplab-pytorch
# ------------------------------------------------------------------------------------------------
class _ConvBnReLU(nn.Sequential):
    def __init__(self, in_ch, out_ch, kernel_size, stride, padding, dilation, relu=True):
        super().__init__()
        self.add_module("conv", nn.Conv2d(in_ch, out_ch, kernel_size, stride, padding, dilation, bias=False))
        self.add_module("bn", nn.BatchNorm2d(out_ch, eps=1e-5, momentum=1 - 0.999))
        if relu:
            self.add_module("relu", nn.ReLU())


class _Bottleneck(nn.Module):
    def __init__(self, in_ch, out_ch, stride, dilation, downsample):
        super().__init__()
        mid_ch = out_ch // 4
        self.reduce = _ConvBnReLU(in_ch, mid_ch, 1, stride, 0, 1, True)
        self.conv3x3 = _ConvBnReLU(mid_ch, mid_ch, 3, 1, dilation, dilation, True)
        self.increase = _ConvBnReLU(mid_ch, out_ch, 1, 1, 0, 1, False)
        self.shortcut = _ConvBnReLU(in_ch, out_ch, 1, stride, 0, 1, False) if downsample else nn.Identity()

    def forward(self, x):
        h = self.increase(self.conv3x3(self.reduce(x)))
        return F.relu(h + self.shortcut(x))


class _ResLayer(nn.Sequential):
    def __init__(self, n_layers, in_ch, out_ch, stride, dilation):
        super().__init__()
        for i in range(n_layers):
            self.add_module(f"block{i + 1}", _Bottleneck(in_ch if i == 0 else out_ch, out_ch,
                                                         stride if i == 0 else 1, dilation, i == 0))


class _Stem(nn.Sequential):
    def __init__(self, out_ch):
        super().__init__()
        self.add_module("conv1", _ConvBnReLU(3, out_ch, 7, 2, 3, 1))
        self.add_module("pool", nn.MaxPool2d(3, 2, 1, ceil_mode=True))


class _ASPP(nn.Module):
    def __init__(self, in_ch, out_ch, rates):
        super().__init__()
        for i, rate in enumerate(rates):
            self.add_module(f"c{i}", nn.Conv2d(in_ch, out_ch, 3, 1, padding=rate, dilation=rate, bias=True))

    def forward(self, x):
        return sum(stage(x) for stage in self.children())


class DeepLabV2(nn.Sequential):
    def __init__(self, n_classes, n_blocks, atrous_rates):
        super().__init__()
        ch = [64 * 2 ** p for p in range(6)]
        self.add_module("layer1", _Stem(ch[0]))
        self.add_module("layer2", _ResLayer(n_blocks[0], ch[0], ch[2], 1, 1))
        self.add_module("layer3", _ResLayer(n_blocks[1], ch[2], ch[3], 2, 1))
        self.add_module("layer4", _ResLayer(n_blocks[2], ch[3], ch[4], 1, 2))
        self.add_module("layer5", _ResLayer(n_blocks[3], ch[4], ch[5], 1, 4))
        self.add_module("aspp", _ASPP(ch[5], n_classes, atrous_rates))


class MSC(nn.Module):
    """msc.py `MSC` in eval mode: pixel-wise max of the logits at scale 1 and the resized scales."""

    def __init__(self, base, scales=(0.5, 0.75)):
        super().__init__()
        self.base = base
        self.scales = list(scales)

    def forward(self, x):
        logits = self.base(x)
        _, _, H, W = logits.shape
        pyramid = [self.base(F.interpolate(x, scale_factor=p, mode="bilinear", align_corners=False))
                   for p in self.scales]
        logits_all = [logits] + [F.interpolate(l, size=(H, W), mode="bilinear", align_corners=False)
                                 for l in pyramid]
        return torch.max(torch.stack(logits_all), dim=0)[0]


def DeepLabV2_ResNet101_MSC(n_classes=182, n_blocks=(3, 4, 23, 3)):
    return MSC(DeepLabV2(n_classes, list(n_blocks), [6, 12, 18, 24]), scales=[0.5, 0.75])


# ------------------------------------------------------------------------------------------------
# Test weights: random, with batch-norm statistics and affine parameters moved away from 0 / 1
# ------------------------------------------------------------------------------------------------
#: a batch norm calibrated on fewer values per channel (PPM's 1x1 .. 3x3 pools) takes its input's
#: per-channel mean and overall variance instead of a batch variance of a handful of values
MIN_CALIBRATION_VALUES = 32
#: floor of each norm's running variances, relative to their mean: channels that ReLU left (nearly)
#: dead would otherwise amplify float32 rounding by up to 1/sqrt(eps) ~ 300x per layer
VARIANCE_FLOOR = 0.01


@torch.no_grad()
def randomise_batch_norms(module: nn.Module, seed: int = 0, calibrate=None) -> nn.Module:
    """Random batch-norm affine parameters and running statistics away from 0 / 1; returns the
    module in eval mode.

    Without `calibrate`: running mean 0.1 N(0, 1), variance U(0.5, 1.5). With `calibrate(module)`:
    a forward pass run first in train mode with momentum 1, so the running statistics are those of
    real activations (random ones make a ResNet-101's activations grow block after block to logits
    of 1e4..1e7, and parity then measures rounding of meaningless numbers); they are then perturbed
    (mean + 0.1 N(0, 1) std, variance x U(0.8, 1.2)) and floored (VARIANCE_FLOOR).
    """
    generator = torch.Generator().manual_seed(seed)
    norms = [m for m in module.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    for m in norms:
        n = m.num_features
        m.weight.copy_(0.8 + 0.4 * torch.rand(n, generator=generator))
        m.bias.copy_(0.1 * torch.randn(n, generator=generator))
    seen = {}
    if calibrate is not None:
        def record(m, inputs, output):
            x = inputs[0].transpose(0, 1).reshape(m.num_features, -1).double()
            seen[m] = (x.shape[1], x.mean(dim=1).float(), x.var().float())

        momenta = [m.momentum for m in norms]
        hooks = [m.register_forward_hook(record) for m in norms]
        for m in norms:
            m.momentum = 1.0
        module.train()
        calibrate(module)
        for m, momentum, hook in zip(norms, momenta, hooks):
            m.momentum = momentum
            hook.remove()
    for m in norms:
        n = m.num_features
        if m not in seen:
            m.running_mean.copy_(0.1 * torch.randn(n, generator=generator))
            m.running_var.copy_(0.5 + torch.rand(n, generator=generator))
            continue
        count, mean, variance = seen[m]
        if count < MIN_CALIBRATION_VALUES:
            m.running_mean.copy_(mean)
            m.running_var.fill_(float(variance))
        std = m.running_var.sqrt()
        m.running_mean.add_(0.1 * std * torch.randn(n, generator=generator))
        m.running_var.mul_(0.8 + 0.4 * torch.rand(n, generator=generator))
        m.running_var.clamp_(min=VARIANCE_FLOOR * float(m.running_var.mean()))
    return module.eval()


def save_state_dict(module: nn.Module, path) -> str:
    """`torch.save(module.state_dict(), path)`, as the official checkpoints were written."""
    torch.save(module.state_dict(), str(path))
    return str(path)


def state_dict_arrays(module: nn.Module) -> dict:
    return {k: v.detach().cpu().numpy() for k, v in module.state_dict().items()}


def to_nchw(array) -> torch.Tensor:
    return torch.from_numpy(array).permute(0, 3, 1, 2).contiguous()


def to_nhwc(tensor: torch.Tensor):
    return tensor.detach().permute(0, 2, 3, 1).numpy()


def import_torchvision_python_only():
    """PyPI torchvision 0.28 beside the torch 2.13 CPU wheel fails loading its C ops
    (`operator torchvision::nms does not exist`) in `torchvision._meta_registrations`; mit-semseg's
    dataset.py only needs `torchvision.transforms` (pure Python), so an empty module stands in."""
    import sys
    import types

    sys.modules.setdefault("torchvision._meta_registrations", types.ModuleType("torchvision._meta_registrations"))
    import torchvision  # noqa: F401


def argmax_agreement(reference_scores, predicted_ids, margin: float):
    """(agreement on pixels whose reference top-2 gap exceeds `margin`, number of such pixels)."""
    import numpy as np

    top2 = np.sort(reference_scores, axis=-1)[..., -2:]
    clear = (top2[..., 1] - top2[..., 0]) > margin
    agree = reference_scores.argmax(-1)[clear] == predicted_ids[clear]
    return float(agree.mean()) if agree.size else 1.0, int(clear.sum())


def float32_parity(ours, reference32, reference64, name: str) -> dict:
    """Parity on a calibrated random ResNet-101, whose float32 rounding is amplified ~1e4 through the
    ~100 layers: torch's own float32 result is compared with its float64 result (the exact answer to
    ~1e-12). Ours must be about as accurate as torch's float32: no further from exact than 2x
    torch's float32 error, and (two independent float32 errors) no further from torch float32 than
    3x that error. (2x: TensorFlow's oneDNN convolutions, on by default on CPUs with AVX512-VNNI, round
    otherwise than its own: on UperNet-R101 they measured 1.51x torch's float32 error on a Zen 4 EPYC,
    its own kernels 1.36x.) Returns the measured maxima (printed)."""
    import numpy as np

    scale = float(np.abs(reference64).max())
    measured = {"scale": scale, "ours_vs_torch32": float(np.abs(ours - reference32).max()),
                "torch32_vs_exact": float(np.abs(reference32 - reference64).max()),
                "ours_vs_exact": float(np.abs(ours - reference64).max())}
    print(f"{name}: logit scale {scale:.3f}; max |ours - torch f32| {measured['ours_vs_torch32']:.2e}, "
          f"|torch f32 - f64| {measured['torch32_vs_exact']:.2e}, |ours - f64| {measured['ours_vs_exact']:.2e}")
    assert measured["ours_vs_exact"] <= 2 * measured["torch32_vs_exact"], measured
    assert measured["ours_vs_torch32"] <= 3 * measured["torch32_vs_exact"], measured
    return measured
