/**
 * Loads the KServe v2 gRPC definitions of `proto/` once, for both the client and the embedded server, so the
 * two always agree on field names and conversions (camelCase fields, int64 as JS numbers, enums as strings).
 * Spec: https://kserve.github.io/website/latest/modelserving/data_plane/v2_protocol/
 */
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { alignedSerializer } from './aligned-wire.ts';

/** The repository's `proto/` folder, resolved from this module so any working directory works. */
export const PROTO_DIR = resolve(dirname(fileURLToPath(import.meta.url)), '../../../proto');

/** proto-loader options shared by client and server: numbers for int64 (exact up to 2^53), string enums. */
export const PROTO_LOADER_OPTIONS: protoLoader.Options = {
  keepCase: false,
  longs: Number,
  enums: String,
  defaults: true,
  oneofs: true,
  includeDirs: [PROTO_DIR],
};

/** Default upper bound of one gRPC message, both directions, in bytes (256 MiB). */
export const DEFAULT_MAX_MESSAGE_BYTES = 256 * 1024 * 1024;

let cached: grpc.ServiceClientConstructor | undefined;

/**
 * The GRPCInferenceService client constructor (its `.service` is the server definition), with ModelInfer
 * serializers that align raw tensors (aligned-wire.ts).
 */
export function inferenceService(): grpc.ServiceClientConstructor {
  if (!cached) {
    const definition = protoLoader.loadSync('grpc_service.proto', PROTO_LOADER_OPTIONS);
    const loaded = grpc.loadPackageDefinition(definition) as unknown as {
      inference: { GRPCInferenceService: grpc.ServiceClientConstructor };
    };
    const service = loaded.inference.GRPCInferenceService.service;
    const infer = service.ModelInfer;
    // Raw tensors land 8-byte aligned at the receiver, which can then use them without a copy.
    const patched: grpc.ServiceDefinition = {
      ...service,
      ModelInfer: {
        ...infer,
        requestSerialize: alignedSerializer(infer.requestSerialize, 'rawInputContents', 7),
        responseSerialize: alignedSerializer(infer.responseSerialize, 'rawOutputContents', 6),
      },
    };
    cached = grpc.makeGenericClientConstructor(patched, 'GRPCInferenceService');
  }
  return cached;
}

/** A decoded InferParameter (the oneof is named by `parameterChoice`). */
export interface WireParameter {
  parameterChoice?: 'boolParam' | 'int64Param' | 'stringParam' | 'doubleParam' | 'uint64Param';
  boolParam?: boolean;
  int64Param?: number;
  stringParam?: string;
  doubleParam?: number;
  uint64Param?: number;
}

/** Decoded InferTensorContents (typed contents, the alternative to raw bytes). */
export interface WireContents {
  boolContents?: boolean[];
  intContents?: number[];
  int64Contents?: number[];
  uintContents?: number[];
  uint64Contents?: number[];
  fp32Contents?: number[];
  fp64Contents?: number[];
  bytesContents?: Uint8Array[];
}

/** A decoded InferInputTensor / InferOutputTensor. */
export interface WireTensor {
  name: string;
  datatype: string;
  shape: number[];
  parameters?: Record<string, WireParameter>;
  contents?: WireContents | null;
}

/** A decoded ModelInferRequest. */
export interface WireInferRequest {
  modelName: string;
  modelVersion: string;
  id: string;
  parameters?: Record<string, WireParameter>;
  inputs: WireTensor[];
  outputs: Array<{ name: string; parameters?: Record<string, WireParameter> }>;
  rawInputContents: Uint8Array[];
}

/** A decoded ModelInferResponse. */
export interface WireInferResponse {
  modelName: string;
  modelVersion: string;
  id: string;
  parameters?: Record<string, WireParameter>;
  outputs: WireTensor[];
  rawOutputContents: Uint8Array[];
}
