/**
 * Training building blocks: wasm gradient kernels, gradient functions, optimizers, EMA, losses.
 */
export * from './gradients.js';
export * from './wasm-kernels.js';
