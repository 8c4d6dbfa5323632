"""SAM's prompt encoder and mask decoder as a PyTorch module with the served decoder's interface.

Written for this project from the architecture of "Segment Anything" (Kirillov et al., 2023), section 3 and
appendix A, and from the structure of the ONNX graph the gateway serves. Its forward takes the served
decoder's six inputs and returns its three outputs with all four mask candidates and a prompt batch:

  image_embeddings [1,256,64,64], point_coords [B,N,2] (1024-frame pixels), point_labels [B,N],
  mask_input [1,1,256,256], has_mask_input [1], orig_im_size [2] (H, W)
  -> masks [B,4,H,W] (logits at the original size), iou_predictions [B,4], low_res_masks [B,4,256,256]

Candidate 0 is SAM's single-mask output; 1-3 are its multimask outputs.
"""

import math

import torch
import torch.nn.functional as F
from torch import nn

EMBED_DIM = 256
EMBED_SIDE = 64
INPUT_SIZE = 1024
LOW_RES_SIDE = 256
NUM_MASK_TOKENS = 4


class FourierPositions(nn.Module):
    """Random Fourier features of 2-D positions in [0, 1]: sin and cos of 2*pi*(2p - 1) @ G, G fixed [2,128]."""

    def __init__(self):
        super().__init__()
        self.register_buffer("gaussian", torch.zeros(2, EMBED_DIM // 2))

    def forward(self, unit_xy):
        proj = (2.0 * unit_xy - 1.0) @ self.gaussian
        proj = 2.0 * math.pi * proj
        return torch.cat([torch.sin(proj), torch.cos(proj)], dim=-1)

    def grid(self):
        """Positional encoding of the 64x64 embedding grid, cell centres: [256, 64, 64]."""
        g = self.gaussian
        centres = (torch.arange(EMBED_SIDE, dtype=g.dtype, device=g.device) + 0.5) / EMBED_SIDE
        ys, xs = torch.meshgrid(centres, centres, indexing="ij")
        return self.forward(torch.stack([xs, ys], dim=-1)).permute(2, 0, 1)


class LayerNormChannels(nn.Module):
    """Layer norm over the channel axis of an NCHW tensor (epsilon 1e-6, as the served graph computes it)."""

    def __init__(self, channels):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels))

    def forward(self, x):
        mean = x.mean(dim=1, keepdim=True)
        var = (x - mean).pow(2).mean(dim=1, keepdim=True)
        x = (x - mean) / torch.sqrt(var + 1e-6)
        return self.weight[None, :, None, None] * x + self.bias[None, :, None, None]


class PromptEncoder(nn.Module):
    """Sparse (points, box corners) and dense (low-res mask) prompt embeddings. Frozen while fine-tuning."""

    def __init__(self):
        super().__init__()
        self.positions = FourierPositions()
        # Labels 0 (background point), 1 (foreground point), 2 (box top-left), 3 (box bottom-right).
        self.label_embeddings = nn.Parameter(torch.zeros(4, EMBED_DIM))
        # Label -1: a padding point; its positional part is dropped.
        self.not_a_point = nn.Parameter(torch.zeros(EMBED_DIM))
        self.no_mask = nn.Parameter(torch.zeros(EMBED_DIM))
        self.mask_conv1 = nn.Conv2d(1, 4, kernel_size=2, stride=2)
        self.mask_norm1 = LayerNormChannels(4)
        self.mask_conv2 = nn.Conv2d(4, 16, kernel_size=2, stride=2)
        self.mask_norm2 = LayerNormChannels(16)
        self.mask_conv3 = nn.Conv2d(16, EMBED_DIM, kernel_size=1)

    def sparse(self, point_coords, point_labels):
        """[B,N,2] 1024-frame pixel coordinates and [B,N] labels -> [B,N,256] token embeddings."""
        # Pixel centres: +0.5, then the 1024-pixel frame to [0, 1].
        pe = self.positions((point_coords + 0.5) / INPUT_SIZE)
        labels = point_labels[..., None]
        out = pe * (labels != -1).to(pe.dtype)
        out = out + self.not_a_point * (labels == -1).to(pe.dtype)
        for k in range(4):
            out = out + self.label_embeddings[k] * (labels == k).to(pe.dtype)
        return out

    def dense(self, mask_input, has_mask_input):
        """[1,1,256,256] mask logits and [1] flag -> [1,256,64,64]; without a mask, the learned no-mask embedding."""
        x = F.gelu(self.mask_norm1(self.mask_conv1(mask_input)))
        x = F.gelu(self.mask_norm2(self.mask_conv2(x)))
        x = self.mask_conv3(x)
        flag = has_mask_input.reshape(1, 1, 1, 1)
        return flag * x + (1.0 - flag) * self.no_mask.reshape(1, -1, 1, 1)


class Attention(nn.Module):
    """Multi-head attention with its own projections; inner width may be smaller than the token width."""

    def __init__(self, inner, heads=8):
        super().__init__()
        self.heads = heads
        self.q_proj = nn.Linear(EMBED_DIM, inner)
        self.k_proj = nn.Linear(EMBED_DIM, inner)
        self.v_proj = nn.Linear(EMBED_DIM, inner)
        self.out_proj = nn.Linear(inner, EMBED_DIM)

    def _split(self, x):
        b, n, c = x.shape
        return x.reshape(b, n, self.heads, c // self.heads).transpose(1, 2)

    def forward(self, q, k, v):
        q, k, v = self._split(self.q_proj(q)), self._split(self.k_proj(k)), self._split(self.v_proj(v))
        weights = torch.softmax((q @ k.transpose(-2, -1)) / math.sqrt(q.shape[-1]), dim=-1)
        out = (weights @ v).transpose(1, 2)
        return self.out_proj(out.reshape(out.shape[0], out.shape[1], -1))


class TwoWayBlock(nn.Module):
    """Tokens attend to themselves and to the image; the image attends back to the tokens."""

    def __init__(self, first):
        super().__init__()
        # The first block's self-attention sees the tokens without their positional part and has no residual.
        self.first = first
        self.self_attn = Attention(EMBED_DIM)
        self.norm1 = nn.LayerNorm(EMBED_DIM)
        self.cross_attn_token_to_image = Attention(EMBED_DIM // 2)
        self.norm2 = nn.LayerNorm(EMBED_DIM)
        self.lin1 = nn.Linear(EMBED_DIM, 2048)
        self.lin2 = nn.Linear(2048, EMBED_DIM)
        self.norm3 = nn.LayerNorm(EMBED_DIM)
        self.norm4 = nn.LayerNorm(EMBED_DIM)
        self.cross_attn_image_to_token = Attention(EMBED_DIM // 2)

    def forward(self, tokens, image, token_pe, image_pe):
        if self.first:
            tokens = self.self_attn(tokens, tokens, tokens)
        else:
            q = tokens + token_pe
            tokens = tokens + self.self_attn(q, q, tokens)
        tokens = self.norm1(tokens)
        tokens = self.norm2(tokens + self.cross_attn_token_to_image(tokens + token_pe, image + image_pe, image))
        tokens = self.norm3(tokens + self.lin2(F.relu(self.lin1(tokens))))
        image = self.norm4(image + self.cross_attn_image_to_token(image + image_pe, tokens + token_pe, tokens))
        return tokens, image


class HeadMLP(nn.Module):
    """Three linear layers with ReLU between them."""

    def __init__(self, out_dim):
        super().__init__()
        self.layers = nn.ModuleList([nn.Linear(EMBED_DIM, EMBED_DIM), nn.Linear(EMBED_DIM, EMBED_DIM)])
        self.layers.append(nn.Linear(EMBED_DIM, out_dim))

    def forward(self, x):
        x = F.relu(self.layers[0](x))
        x = F.relu(self.layers[1](x))
        return self.layers[2](x)


class MaskDecoder(nn.Module):
    """SAM's mask decoder: the only part that fine-tuning trains."""

    def __init__(self):
        super().__init__()
        # Row 0: the IoU token; rows 1-4: the four mask tokens.
        self.output_tokens = nn.Parameter(torch.zeros(1 + NUM_MASK_TOKENS, EMBED_DIM))
        self.blocks = nn.ModuleList([TwoWayBlock(first=True), TwoWayBlock(first=False)])
        self.final_attn_token_to_image = Attention(EMBED_DIM // 2)
        self.norm_final_attn = nn.LayerNorm(EMBED_DIM)
        self.up1 = nn.ConvTranspose2d(EMBED_DIM, 64, kernel_size=2, stride=2)
        self.up_norm = LayerNormChannels(64)
        self.up2 = nn.ConvTranspose2d(64, 32, kernel_size=2, stride=2)
        self.hypernetworks = nn.ModuleList([HeadMLP(32) for _ in range(NUM_MASK_TOKENS)])
        self.iou_head = HeadMLP(NUM_MASK_TOKENS)

    def forward(self, image_embeddings, image_pe, sparse, dense):
        """[1,256,64,64], [256,64,64], [B,N,256], [1,256,64,64] -> low-res logits [B,4,256,256], IoU [B,4]."""
        b = sparse.shape[0]
        tokens = torch.cat([self.output_tokens[None].expand(b, -1, -1), sparse], dim=1)
        image = (image_embeddings + dense).expand(b, -1, -1, -1)
        image = image.flatten(2).transpose(1, 2)
        pe = image_pe.flatten(1).transpose(0, 1)[None].expand(b, -1, -1)
        queries = tokens
        for block in self.blocks:
            queries, image = block(queries, image, tokens, pe)
        queries = self.norm_final_attn(
            queries + self.final_attn_token_to_image(queries + tokens, image + pe, image)
        )
        grid = image.transpose(1, 2).reshape(b, EMBED_DIM, EMBED_SIDE, EMBED_SIDE)
        up = F.gelu(self.up_norm(self.up1(grid)))
        up = F.gelu(self.up2(up))
        weights = torch.stack([mlp(queries[:, 1 + i]) for i, mlp in enumerate(self.hypernetworks)], dim=1)
        low_res = (weights @ up.flatten(2)).reshape(b, NUM_MASK_TOKENS, LOW_RES_SIDE, LOW_RES_SIDE)
        return low_res, self.iou_head(queries[:, 0])


def upscale_logits(low_res, orig_size):
    """Low-res logits [B,C,256,256] -> logits at the original image size (H, W), as the served graph does:
    bilinear to the 1024 frame, crop the padding, bilinear to (H, W). orig_size: a pair of ints."""
    h, w = int(orig_size[0]), int(orig_size[1])
    scale = INPUT_SIZE / max(h, w)
    rh, rw = int(math.floor(h * scale + 0.5)), int(math.floor(w * scale + 0.5))
    x = F.interpolate(low_res, size=(INPUT_SIZE, INPUT_SIZE), mode="bilinear", align_corners=False)
    x = x[..., :rh, :rw]
    return F.interpolate(x, size=(h, w), mode="bilinear", align_corners=False)


class SamDecoder(nn.Module):
    """Prompt encoder plus mask decoder, with the served decoder's six inputs and three outputs."""

    def __init__(self):
        super().__init__()
        self.prompt_encoder = PromptEncoder()
        self.mask_decoder = MaskDecoder()

    def decode(self, image_embeddings, point_coords, point_labels, mask_input, has_mask_input):
        """Low-res logits [B,4,256,256] and IoU predictions [B,4], without the resize to the original size."""
        sparse = self.prompt_encoder.sparse(point_coords, point_labels)
        dense = self.prompt_encoder.dense(mask_input, has_mask_input)
        return self.mask_decoder(image_embeddings, self.prompt_encoder.positions.grid(), sparse, dense)

    def forward(self, image_embeddings, point_coords, point_labels, mask_input, has_mask_input, orig_im_size):
        low_res, iou = self.decode(image_embeddings, point_coords, point_labels, mask_input, has_mask_input)
        return upscale_logits(low_res, orig_im_size.tolist()), iou, low_res
