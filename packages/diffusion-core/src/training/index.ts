/**
 * Training building blocks: wasm training kernels, gradient functions, Adam/AdamW, gradient
 * clipping, EMA of weights, diffusion losses and timestep sampling.
 */
export * from './gradients.js';
export * from './wasm-kernels.js';
export * from './optimizers.js';
export * from './ema.js';
export * from './losses.js';
