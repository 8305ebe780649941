/// <reference types="@webgpu/types" preserve="true" />
/**
 * wavegrad public API. Everything a user imports comes from here; nothing here has logic of its own.
 *
 * @example
 * import { parse, evaluateCpu } from 'wavegrad'
 * const g = parse('f = (1-x)^2 + 100*(y-x^2)^2')
 * const r = evaluateCpu(g, { x: [0, 1], y: [0, 1] })
 * r.values.f, r.jacobian.f.x, r.jacobian.f.y
 */
export { OPS, OP_NAMES, type OpName, type OpSpec, type Derivative, type DerivativeRule, type EvalFn, type HelperName, type WgslFn } from './ops.js'
export { registerOp, type CustomOpSpec } from './custom.js'
export { Graph, Expr, fns, type ExprLike, type GraphOptions, type NodeKind, type DefaultParams, type FreeFunctions, type FreeFn, type Arity } from './graph.js'
export { parse, MAX_DEPTH_CAP, PARSE_DEFAULTS, UNTRUSTED_TEXT, type ParseOptions } from './parse.js'
export type { LongRunOptions, Progress } from './abort.js'
export { fn, defaultEngine, TracedFunction, type Traced, type OutputNames, type Placeholders, type FnSignature, type FnEngine, type FnRunOptions, type SignatureNames } from './fn.js'
export { levelize, type Levels } from './levelize.js'
export { evaluateCpu, type CpuOptions, type Precision } from './reference.js'
export type { Results, Evaluator, SumOptions, OrdinaryInputs } from './results.js'
export { programOf, type Program, type ProgramOptions } from './program.js'
export type { Term } from './autodiff.js'
export { Value, type BackwardOptions } from './value.js'
export type { Bindings, BindingSource, GpuBinding } from './bindings.js'
export { compareResults, type Comparison } from './verify.js'
export { WavegradError, ParseError, GraphError, BindingError } from './errors.js'

import { fns } from './graph.js'
/** Free-function forms of every op (at least one argument must be an Expr). */
export const { add, sub, mul, div, neg, pow, sqrt, exp, log, sin, cos, tan, tanh, sigmoid, relu, abs, min, max, atan2, atan, asin, acos, sinh, cosh, exp2, log2, log10, erf, log1p, expm1, where, lt, le, gt, ge, eq, ne, gmadd } = fns

export { createGpuEngine, GpuEngine, MAX_RECOVERIES, type GpuEngineOptions, type CompileOptions, type EvaluateOptions } from './gpu/engine.js'
export { BUFFER_USAGE, SHADER_STAGE } from './gpu/buffers.js'
export { AUTO_BUILD_MS, Kernel, type Tier, type GpuResidentResults, type GpuResults, type RunOptions, type ToBufferOptions, type Timings } from './gpu/kernel.js'
export { ShaderError, DeviceError, type DeviceErrorReason, type ShaderMessage } from './gpu/errors.js'
export { COMPILE_AFTER, CpuEngine, CpuKernel, createCpuEngine, type CpuEngineOptions, type CpuOutput } from './cpu/engine.js'
export { createEngine, type Engine, type EngineOptions } from './engines.js'
export { AutoEngine, AutoKernel, createAutoEngine, graphCost, SMALL_BATCH, type AutoResults, type AutoRunOptions, type Calibration, type Explanation, type GraphCost, type Signature } from './auto.js'
export { planKernels, COST_BUDGET, HARDWARE_COST_BUDGET, segmentCost, predictCompileMs, predictPlanCompileMs, rangeCompileMs, SOFTWARE_COMPILE_MODEL, type Plan, type PlanOptions, type KernelPlan, type Row, type ScratchLayout } from './plan.js'
export { emitWgsl, kernelSources, type KernelSource } from './codegen/wgsl.js'
export { graphToJSON, graphFromJSON, GRAPH_FORMAT, GRAPH_FORMAT_VERSION, type GraphJSON, type GraphNodeJSON, type JsonNumber, type FromJSONOptions } from './serialize.js'
export { exportKernel, type ExportedKernel, type ExportOptions } from './export.js'
export { checkGradients, formatGradientReport, type GradientEngine, type GradientCheckOptions, type GradientReport, type GradientEntry, type WorstBinding, type NonFiniteCounts } from './check.js'
export { gradientGraph, jvpGraph, hvpGraph, hessian, jvp, hvp, referenceEngine, gradientName, tangentName, jvpName, hvpName, type EvaluatingEngine, type GradientGraphOptions, type JvpGraphOptions, type Hessian, type Tangents, type JvpResults, type HvpOptions, type HvpResults } from './transform.js'
