/** Folds BatchNormalization into the Conv, ConvTranspose or Gemm before it. */
import { ModelProto } from './proto';

/** A new model where each Conv/ConvTranspose/Gemm → BatchNormalization pair with constant parameters is one layer. */
export function foldBatchNorm(model: ModelProto): ModelProto {
  return model; // implemented below in the next commit
}
