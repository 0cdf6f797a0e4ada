"""A PyTorch re-statement of the official DAGAN networks, written from docs/reference.md.

Used by the tests (state_dict names/shapes against the official listings, number-for-number parity of
the Keras networks after checkpoint conversion) and by bench/ (timing the reference). It is not part
of the package: it needs `torch` and mirrors the released code's module tree exactly, so that
`state_dict()` keys read like the released checkpoints (`head_0.conv_0.weight_orig`,
`discriminator_0.model1.0.0.weight_u`, `layer1.0.weight_v`, ...).

Layout is NCHW, as in the reference. The semantic map has `cfg.semantic_nc` channels in the order our
model uses (one-hot classes, dontcare, instance edge). Where the released code only runs with ngf = 64
or breaks under `num_upsampling_layers='most'`, this module follows docs/reference.md's generalisation:
`conv_64` maps 2*ngf -> final_nc, CAM is (2*final_nc -> final_nc, final_nc -> final_nc), and under
'most' x_tmp is upsampled x2 (nearest) before CAM. With ngf = 64 and normal/more nothing changes.

Entry point: `build_torch_networks(cfg) -> {"G": ..., "D": ..., "E": ...}` (E only with `cfg.use_vae`).
"""

from __future__ import annotations

import re

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.nn import init
from torch.nn.utils import spectral_norm

__all__ = [
    "SPADE",
    "SPADEResnetBlock",
    "ChannelAttention",
    "SpatialAttention",
    "SPADEGenerator",
    "NLayerDiscriminator",
    "MultiscaleDiscriminator",
    "ConvEncoder",
    "init_weights",
    "build_torch_networks",
    "encoder_input_size",
]


def _lrelu(x: torch.Tensor) -> torch.Tensor:
    return F.leaky_relu(x, 0.2)


# ---------------------------------------------------------------------------------------------
# Generator pieces
# ---------------------------------------------------------------------------------------------
class SPADE(nn.Module):
    """SPADE(norm_nc, label_nc) from a config string `spade<norm><k>x<k>` (no 'spectral' prefix)."""

    def __init__(self, config_text: str, norm_nc: int, label_nc: int):
        super().__init__()
        parsed = re.search(r"spade(\D+)(\d)x\d", config_text)
        if parsed is None:
            raise ValueError(f"not a SPADE config string: {config_text!r}")
        norm_type, ks = parsed.group(1), int(parsed.group(2))
        if norm_type == "instance":
            self.param_free_norm = nn.InstanceNorm2d(norm_nc, affine=False)
        elif norm_type in ("syncbatch", "batch"):
            # SynchronizedBatchNorm2d in a single process is BatchNorm2d (same state_dict keys).
            self.param_free_norm = nn.BatchNorm2d(norm_nc, affine=False)
        else:
            raise ValueError(f"{norm_type!r} is not a recognized param-free norm type in SPADE")
        nhidden = 128
        pw = ks // 2
        self.mlp_shared = nn.Sequential(nn.Conv2d(label_nc, nhidden, kernel_size=ks, padding=pw), nn.ReLU())
        self.mlp_gamma = nn.Conv2d(nhidden, norm_nc, kernel_size=ks, padding=pw)
        self.mlp_beta = nn.Conv2d(nhidden, norm_nc, kernel_size=ks, padding=pw)

    def forward(self, x: torch.Tensor, segmap: torch.Tensor) -> torch.Tensor:
        normalized = self.param_free_norm(x)
        # mode='nearest' is the legacy floor(dst * in / out) rule (docs/reference.md).
        segmap = F.interpolate(segmap, size=x.size()[2:], mode="nearest")
        actv = self.mlp_shared(segmap)
        gamma = self.mlp_gamma(actv)
        beta = self.mlp_beta(actv)
        return normalized * (1 + gamma) + beta


class SPADEResnetBlock(nn.Module):
    """SPADEResnetBlock(fin, fout); conv_s / norm_s only when fin != fout."""

    def __init__(self, fin: int, fout: int, norm_G: str, semantic_nc: int):
        super().__init__()
        self.learned_shortcut = fin != fout
        fmiddle = min(fin, fout)
        # Definition order fixes the state_dict order: conv_0, conv_1, conv_s, norm_0, norm_1, norm_s.
        self.conv_0 = nn.Conv2d(fin, fmiddle, kernel_size=3, padding=1)
        self.conv_1 = nn.Conv2d(fmiddle, fout, kernel_size=3, padding=1)
        if self.learned_shortcut:
            self.conv_s = nn.Conv2d(fin, fout, kernel_size=1, bias=False)
        if "spectral" in norm_G:
            self.conv_0 = spectral_norm(self.conv_0)
            self.conv_1 = spectral_norm(self.conv_1)
            if self.learned_shortcut:
                self.conv_s = spectral_norm(self.conv_s)
        spade_config = norm_G.replace("spectral", "")
        self.norm_0 = SPADE(spade_config, fin, semantic_nc)
        self.norm_1 = SPADE(spade_config, fmiddle, semantic_nc)
        if self.learned_shortcut:
            self.norm_s = SPADE(spade_config, fin, semantic_nc)

    def forward(self, x: torch.Tensor, seg: torch.Tensor) -> torch.Tensor:
        x_s = self.conv_s(self.norm_s(x, seg)) if self.learned_shortcut else x
        dx = self.conv_0(_lrelu(self.norm_0(x, seg)))
        dx = self.conv_1(_lrelu(self.norm_1(dx, seg)))
        return x_s + dx


class ChannelAttention(nn.Module):
    """CAM (`cab`): a = sigmoid(conv2(relu(conv1(avgpool(concat[x_tmp, x]))))); a * x + x_tmp."""

    def __init__(self, in_channels: int, out_channels: int):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, out_channels, kernel_size=1)
        self.conv2 = nn.Conv2d(out_channels, out_channels, kernel_size=1)

    def forward(self, x_tmp: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        pooled = F.adaptive_avg_pool2d(torch.cat([x_tmp, x], dim=1), 1)
        a = torch.sigmoid(self.conv2(F.relu(self.conv1(pooled))))
        return a * x + x_tmp


class SpatialAttention(nn.Module):
    """SAM (`spatialAtt`): x * sigmoid(conv3x3(concat[mean_c(x), max_c(x)])), conv 2 -> 1, no bias."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(2, 1, kernel_size=3, padding=1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        avg_out = torch.mean(x, dim=1, keepdim=True)
        max_out, _ = torch.max(x, dim=1, keepdim=True)
        s = torch.sigmoid(self.conv(torch.cat([avg_out, max_out], dim=1)))
        return x * s


class SPADEGenerator(nn.Module):
    """SPADEGenerator with the DAGAN head. forward(seg (N, semantic_nc, H, W), z=None) -> (N, 3, H, W)."""

    def __init__(self, cfg):
        super().__init__()
        self.cfg = cfg
        nf = cfg.ngf
        self.sh, self.sw = cfg.latent_hw
        self.use_vae = cfg.use_vae
        self.z_dim = cfg.z_dim
        self.most = cfg.num_upsampling_layers == "most"
        self.more = cfg.num_upsampling_layers in ("more", "most")
        semantic_nc = cfg.semantic_nc
        if cfg.use_vae:
            self.fc = nn.Linear(cfg.z_dim, 16 * nf * self.sw * self.sh)
        else:
            self.fc = nn.Conv2d(semantic_nc, 16 * nf, kernel_size=3, padding=1)
        block = lambda fin, fout: SPADEResnetBlock(fin, fout, cfg.norm_G, semantic_nc)  # noqa: E731
        self.head_0 = block(16 * nf, 16 * nf)
        self.G_middle_0 = block(16 * nf, 16 * nf)
        self.G_middle_1 = block(16 * nf, 16 * nf)
        self.up_0 = block(16 * nf, 8 * nf)
        self.up_1 = block(8 * nf, 4 * nf)
        self.up_2 = block(4 * nf, 2 * nf)
        self.up_3 = block(2 * nf, 1 * nf)
        final_nc = nf
        if self.most:
            self.up_4 = block(1 * nf, nf // 2)
            final_nc = nf // 2
        self.conv_img = nn.Conv2d(final_nc, 3, kernel_size=3, padding=1)
        self.up = nn.Upsample(scale_factor=2)
        # DAGAN head, generalised per docs/reference.md (released code: conv_64 128 -> 64, CAM (128, 64)).
        self.conv_64 = nn.Conv2d(2 * nf, final_nc, kernel_size=3, padding=1)
        self.cab = ChannelAttention(2 * final_nc, final_nc)
        self.spatialAtt = SpatialAttention()

    def forward(self, seg: torch.Tensor, z: torch.Tensor | None = None) -> torch.Tensor:
        if self.use_vae:
            if z is None:
                z = torch.randn(seg.size(0), self.z_dim, dtype=torch.float32, device=seg.device)
            x = self.fc(z)
            x = x.view(-1, 16 * self.cfg.ngf, self.sh, self.sw)
        else:
            x = F.interpolate(seg, size=(self.sh, self.sw))
            x = self.fc(x)
        x = self.head_0(x, seg)
        x = self.up(x)
        x = self.G_middle_0(x, seg)
        if self.more:
            x = self.up(x)
        x = self.G_middle_1(x, seg)
        x = self.up(x)
        x = self.up_0(x, seg)
        x = self.up(x)
        x = self.up_1(x, seg)
        x = self.up(x)
        x = self.up_2(x, seg)
        x = self.up(x)
        x_tmp = self.conv_64(x)
        x = self.up_3(x, seg)
        if self.most:
            x = self.up(x)
            x = self.up_4(x, seg)
            x_tmp = self.up(x_tmp)
        cam = self.cab(x_tmp, x)
        sam = self.spatialAtt(x)
        x = self.conv_img(_lrelu(cam + sam))
        return torch.tanh(x)


# ---------------------------------------------------------------------------------------------
# Discriminator and encoder
# ---------------------------------------------------------------------------------------------
def _nonspade_norm(layer: nn.Conv2d, norm_type: str) -> nn.Module:
    """The reference's get_nonspade_norm_layer: optional spectral norm, then a norm after the conv.

    With a norm, the conv's bias is dropped (meaningless before normalisation) and the result is
    Sequential(conv, norm), hence keys like `model1.0.0.weight_orig`.
    """
    if norm_type.startswith("spectral"):
        layer = spectral_norm(layer)
        subnorm_type = norm_type[len("spectral"):]
    else:
        subnorm_type = norm_type
    if subnorm_type in ("none", ""):
        return layer
    if getattr(layer, "bias", None) is not None:
        delattr(layer, "bias")
        layer.register_parameter("bias", None)
    out_channels = layer.out_channels
    if subnorm_type in ("batch", "syncbatch"):
        norm = nn.BatchNorm2d(out_channels, affine=True)
    elif subnorm_type == "instance":
        norm = nn.InstanceNorm2d(out_channels, affine=False)
    else:
        raise ValueError(f"normalization layer {subnorm_type!r} is not recognized")
    return nn.Sequential(layer, norm)


class NLayerDiscriminator(nn.Module):
    """PatchGAN; forward returns every block's output (model0 .. model{n_layers_D})."""

    def __init__(self, cfg):
        super().__init__()
        kw, padw = 4, 2
        nf = cfg.ndf
        input_nc = cfg.semantic_nc + 3
        sequence = [[nn.Conv2d(input_nc, nf, kernel_size=kw, stride=2, padding=padw), nn.LeakyReLU(0.2, False)]]
        for n in range(1, cfg.n_layers_D):
            nf_prev = nf
            nf = min(nf * 2, 512)
            stride = 1 if n == cfg.n_layers_D - 1 else 2
            conv = nn.Conv2d(nf_prev, nf, kernel_size=kw, stride=stride, padding=padw)
            sequence += [[_nonspade_norm(conv, cfg.norm_D), nn.LeakyReLU(0.2, False)]]
        sequence += [[nn.Conv2d(nf, 1, kernel_size=kw, stride=1, padding=padw)]]
        for n, layers in enumerate(sequence):
            self.add_module(f"model{n}", nn.Sequential(*layers))

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        results = [x]
        for submodel in self.children():
            results.append(submodel(results[-1]))
        return results[1:]


class MultiscaleDiscriminator(nn.Module):
    """num_D NLayerDiscriminators; forward(concat[seg, image]) -> [[features of scale 0], ...]."""

    def __init__(self, cfg):
        super().__init__()
        for i in range(cfg.num_D):
            self.add_module(f"discriminator_{i}", NLayerDiscriminator(cfg))

    @staticmethod
    def downsample(x: torch.Tensor) -> torch.Tensor:
        return F.avg_pool2d(x, kernel_size=3, stride=2, padding=[1, 1], count_include_pad=False)

    def forward(self, x: torch.Tensor) -> list[list[torch.Tensor]]:
        result = []
        for d in self.children():
            result.append(d(x))
            x = self.downsample(x)
        return result


def encoder_input_size(cfg) -> int:
    """The square size the encoder resizes images to: 256, or 128 when crop_size < 256 (docs/reference.md)."""
    return 256 if cfg.crop_size >= 256 else 128


class ConvEncoder(nn.Module):
    """ConvEncoder: forward(image (N, 3, H, W) in [-1, 1]) -> (mu, logvar), each (N, z_dim)."""

    def __init__(self, cfg):
        super().__init__()
        kw, pw = 3, 1
        ndf = cfg.ngf
        self.size = encoder_input_size(cfg)
        self.six_layers = cfg.crop_size >= 256
        norm = lambda conv: _nonspade_norm(conv, cfg.norm_E)  # noqa: E731
        self.layer1 = norm(nn.Conv2d(3, ndf, kw, stride=2, padding=pw))
        self.layer2 = norm(nn.Conv2d(ndf * 1, ndf * 2, kw, stride=2, padding=pw))
        self.layer3 = norm(nn.Conv2d(ndf * 2, ndf * 4, kw, stride=2, padding=pw))
        self.layer4 = norm(nn.Conv2d(ndf * 4, ndf * 8, kw, stride=2, padding=pw))
        self.layer5 = norm(nn.Conv2d(ndf * 8, ndf * 8, kw, stride=2, padding=pw))
        if self.six_layers:
            self.layer6 = norm(nn.Conv2d(ndf * 8, ndf * 8, kw, stride=2, padding=pw))
        s0 = 4
        self.fc_mu = nn.Linear(ndf * 8 * s0 * s0, cfg.z_dim)
        self.fc_var = nn.Linear(ndf * 8 * s0 * s0, cfg.z_dim)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if x.size(2) != self.size or x.size(3) != self.size:
            x = F.interpolate(x, size=(self.size, self.size), mode="bilinear", align_corners=False)
        x = self.layer1(x)
        x = self.layer2(_lrelu(x))
        x = self.layer3(_lrelu(x))
        x = self.layer4(_lrelu(x))
        x = self.layer5(_lrelu(x))
        if self.six_layers:
            x = self.layer6(_lrelu(x))
        x = _lrelu(x)
        x = x.reshape(x.size(0), -1)  # NCHW flatten order, as the reference
        return self.fc_mu(x), self.fc_var(x)


# ---------------------------------------------------------------------------------------------
# Initialisation and construction
# ---------------------------------------------------------------------------------------------
def init_weights(net: nn.Module, gain: float = 0.02) -> nn.Module:
    """The reference's BaseNetwork.init_weights('xavier', gain): conv/linear xavier-normal, zero bias.

    For spectrally normalised convs `m.weight.data` shares storage with `weight_orig`, so the
    reference's init reaches the stored raw kernel too; we write `weight_orig` directly.
    """

    @torch.no_grad()
    def init_func(m: nn.Module) -> None:
        classname = m.__class__.__name__
        if "BatchNorm2d" in classname:
            if getattr(m, "weight", None) is not None:
                init.normal_(m.weight, 1.0, gain)
            if getattr(m, "bias", None) is not None:
                init.constant_(m.bias, 0.0)
        elif ("Conv" in classname or "Linear" in classname) and hasattr(m, "weight"):
            weight = getattr(m, "weight_orig", m.weight)
            init.xavier_normal_(weight, gain=gain)
            if getattr(m, "bias", None) is not None:
                init.constant_(m.bias, 0.0)

    net.apply(init_func)
    return net


def build_torch_networks(cfg, device: str | torch.device | None = None,
                         networks: tuple[str, ...] | None = None) -> dict[str, nn.Module]:
    """The reference networks for a DAGANConfig: {"G", "D"} plus "E" when cfg.use_vae.

    `networks` picks others (e.g. ("E",) builds the encoder whatever `use_vae` says).
    `device="meta"` builds shapes only (no memory, no init), enough for state_dict listings.
    """
    if networks is None:
        networks = ("G", "D", "E") if cfg.use_vae else ("G", "D")
    builders = {"G": SPADEGenerator, "D": MultiscaleDiscriminator, "E": ConvEncoder}
    device = torch.device(device) if device is not None else torch.device("cpu")
    nets = {}
    with device:
        for name in networks:
            nets[name] = builders[name](cfg)
    if device.type != "meta":
        for net in nets.values():
            init_weights(net, cfg.init_variance)
    return nets
