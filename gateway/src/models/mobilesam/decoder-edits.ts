/**
 * Edits of a SAM prompt decoder exported with a single mask output (the official `SamOnnxModel` with
 * `return_single_mask`): serve all candidates, and let several prompt sets share one image embedding.
 *
 * The export chooses one candidate inside the graph: an ArgMax over the IoU head's scores (re-weighted by the
 * point count), then a Gather of the chosen candidate from the flattened mask tensor and from the flattened
 * scores. The edit finds that ArgMax and the Gathers it indexes by structure, takes the tensors from before the
 * choice, and makes them the `low_res_masks` and `iou_predictions` outputs; the upscaling to `masks` already
 * downstream of `low_res_masks` then runs on every candidate. Interface: ../shared/DESIGN.md "SAM ONNX
 * interfaces" (segment_anything/utils/onnx.py).
 */
import {
  graphOf,
  GraphEditError,
  GraphIndex,
  graphValue,
  node,
  pruneDeadNodes,
  setDims,
  type Model,
} from '../onnx-graph.ts';

/** What {@link exposeAllCandidates} changed. */
export interface CandidateEdit {
  /** Candidates per prompt set after the edit (4 for SAM: token 0 plus the 3 multimask outputs). */
  candidates: number;
  /** Tensor that now feeds `low_res_masks`. */
  masksSource: string;
  /** Tensor that now feeds `iou_predictions`. */
  scoresSource: string;
  /** Nodes removed (the selection and what only it used). */
  removedNodes: number;
}

function describe(n: { opType?: string | null; name?: string | null }): string {
  return `${n.opType} '${n.name}'`;
}

/**
 * Replaces the in-graph candidate choice by all candidates. Throws GraphEditError naming what it expected
 * when the graph is not a single-mask SAM decoder.
 */
export function exposeAllCandidates(model: Model): CandidateEdit {
  const index = new GraphIndex(model);
  const argmaxes = index.nodesOfType('ArgMax');
  if (argmaxes.length !== 1) {
    throw new GraphEditError(
      `expected exactly one ArgMax (the single-mask choice of SAM's export), found ${argmaxes.length}`,
    );
  }
  const choice = argmaxes[0].output[0];
  // Gathers whose indices derive from the choice, reading a flattened candidate tensor.
  const selections = index
    .nodesOfType('Gather')
    .filter((g) => g.input[1] !== undefined && index.dependsOn(g.input[1], choice, 3));
  if (selections.length !== 2) {
    throw new GraphEditError(
      `expected two Gathers indexed by the ArgMax (masks and scores), found ${selections.length}: ${selections.map(describe).join(', ') || 'none'}`,
    );
  }
  let masksSource: string | undefined;
  let scoresSource: string | undefined;
  let masksOutputNode: string | undefined;
  let scoresOutputNode: string | undefined;
  for (const gather of selections) {
    const flatten = index.producer.get(gather.input[0]);
    if (!flatten || flatten.opType !== 'Flatten') {
      throw new GraphEditError(
        `expected ${describe(gather)} to read a Flatten of the candidates, it reads ${flatten ? describe(flatten) : `'${gather.input[0]}'`}`,
      );
    }
    const source = flatten.input[0];
    const reached = index.firstGraphOutput(gather.output[0]);
    if (reached === 'low_res_masks') {
      masksSource = source;
      masksOutputNode = reached;
    } else if (reached === 'iou_predictions') {
      scoresSource = source;
      scoresOutputNode = reached;
    } else {
      throw new GraphEditError(
        `expected ${describe(gather)} to feed low_res_masks or iou_predictions, it first reaches ${reached ?? 'no graph output'}`,
      );
    }
  }
  if (!masksSource || !scoresSource || !masksOutputNode || !scoresOutputNode) {
    throw new GraphEditError('expected one candidate choice for the masks and one for the scores');
  }
  // The score head's last layer tells how many candidates exist: a Gemm whose weight is [C, hidden].
  const head = index.producer.get(scoresSource);
  const weight = head?.opType === 'Gemm' ? index.initializer(head.input[1]) : undefined;
  if (!head || !weight || weight.dims.length !== 2) {
    throw new GraphEditError(
      `expected the scores to come from a Gemm with an initializer weight (the IoU head), found ${head ? describe(head) : 'no producer'}`,
    );
  }
  const transB = head.attribute.find((a) => a.name === 'transB');
  const candidates = Number(transB && Number(transB.i) === 1 ? weight.dims[0] : weight.dims[1]);
  const masksProducer = index.producer.get(masksSource);
  if (!masksProducer || masksProducer.opType !== 'Reshape') {
    throw new GraphEditError(
      `expected the candidate masks to come from a Reshape (the hypernetwork product), found ${masksProducer ? describe(masksProducer) : 'no producer'}`,
    );
  }

  const g = graphOf(model);
  const replace = (outputName: string, source: string) => {
    const at = g.node.findIndex((n) => n.output.includes(outputName));
    if (at < 0) throw new GraphEditError(`no node produces the graph output ${outputName}`);
    g.node[at] = node('Identity', `medseg/all_candidates/${outputName}`, [source], [outputName]);
  };
  replace('low_res_masks', masksSource);
  replace('iou_predictions', scoresSource);
  const removedNodes = pruneDeadNodes(model);
  if (g.node.some((n) => n.opType === 'ArgMax')) {
    throw new GraphEditError('the candidate choice is still used after the edit');
  }
  setDims(graphValue(model, 'output', 'low_res_masks'), ['prompts', candidates, 'low_res_h', 'low_res_w']);
  setDims(graphValue(model, 'output', 'iou_predictions'), ['prompts', candidates]);
  setDims(graphValue(model, 'output', 'masks'), ['prompts', candidates, 'height', 'width']);
  return { candidates, masksSource, scoresSource, removedNodes };
}

/**
 * Makes the leading dimension of `point_coords` and `point_labels` dynamic (B prompt sets, one image
 * embedding), and that of `mask_input` too (1 to share one prior, or B). The decoder repeats the embedding
 * per prompt set inside the graph, so `image_embeddings` stays [1, 256, 64, 64].
 */
export function dynamicPromptBatch(model: Model): void {
  const coords = graphValue(model, 'input', 'point_coords');
  const labels = graphValue(model, 'input', 'point_labels');
  const maskInput = graphValue(model, 'input', 'mask_input');
  const rank = (v: typeof coords) => v.type?.tensorType?.shape?.dim?.length ?? 0;
  if (rank(coords) !== 3 || rank(labels) !== 2 || rank(maskInput) !== 4) {
    throw new GraphEditError(
      `expected point_coords [1,N,2], point_labels [1,N] and mask_input [1,1,S,S], found ranks ${rank(coords)}, ${rank(labels)} and ${rank(maskInput)}`,
    );
  }
  const maskDims = maskInput.type!.tensorType!.shape!.dim!.map((d) => Number(d.dimValue));
  setDims(coords, ['prompts', 'num_points', 2]);
  setDims(labels, ['prompts', 'num_points']);
  setDims(maskInput, ['mask_batch', 1, maskDims[2], maskDims[3]]);
}
