/**
 * Checks a model's contract against the encoder's and decoder's real tensors (ModelMetadata), through the
 * family's profile; the session runs it before first use and refuses a model that does not match.
 */
import type { ModelMetadata } from '../protocol/types.ts';
import { dimsMatch, DECODER_INPUTS, DECODER_OUTPUTS, type ModelProfile } from './contract.ts';
import { profileOf } from './profiles/index.ts';

/** The problems found (empty when the pair is usable), each naming the tensor, what was expected and what is declared. */
export function validateProfile(
  profile: ModelProfile,
  encoder: ModelMetadata,
  decoder: ModelMetadata,
): string[] {
  const family = profileOf(profile.name);
  const problems: string[] = [];
  const image = encoder.inputs.find((t) => t.name === profile.imageInput);
  if (!image) {
    problems.push(
      `encoder ${encoder.name} has no input '${profile.imageInput}' (inputs: ${encoder.inputs.map((t) => t.name).join(', ')})`,
    );
  } else {
    problems.push(...family.checkImageInput(image, profile));
  }
  const embeddings = family.embeddingTensors(encoder, decoder);
  if (embeddings.length === 0) problems.push(`encoder ${encoder.name} has no outputs`);
  for (const [i, e] of embeddings.entries()) {
    const out = encoder.outputs.find((t) => t.name === e.output);
    const input = decoder.inputs.find((t) => t.name === e.input);
    if (!input)
      problems.push(`decoder ${decoder.name} lacks input '${e.input}' for encoder output ${e.output}`);
    // The first embedding tensor is the one sam.embedding_shape describes.
    if (i === 0 && out && !dimsMatch(out.shape.slice(-3), profile.embeddingShape)) {
      problems.push(
        `encoder output ${out.name} must end in [${profile.embeddingShape.join(',')}], model declares [${out.shape.join(',')}]`,
      );
    }
  }
  for (const name of DECODER_INPUTS) {
    if (name !== 'image_embeddings' && !decoder.inputs.some((t) => t.name === name))
      problems.push(`decoder ${decoder.name} lacks input '${name}'`);
  }
  for (const name of DECODER_OUTPUTS) {
    if (!decoder.outputs.some((t) => t.name === name))
      problems.push(`decoder ${decoder.name} lacks output '${name}'`);
  }
  const maskIn = decoder.inputs.find((t) => t.name === 'mask_input');
  if (maskIn && !dimsMatch(maskIn.shape.slice(-2), [profile.maskInputSize, profile.maskInputSize])) {
    problems.push(
      `decoder input mask_input must end in [${profile.maskInputSize},${profile.maskInputSize}], model declares [${maskIn.shape.join(',')}]`,
    );
  }
  return problems;
}
