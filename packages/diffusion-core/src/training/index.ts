/**
 * Training building blocks: wasm training kernels, gradient functions, Adam/AdamW, gradient
 * clipping, EMA of weights, diffusion losses and timestep sampling.
 */
export * from './gradients.js';
export * from './wasm-kernels.js';
export * from './optimizers.js';
export * from './ema.js';
export * from './losses.js';
export * from './objectives.js';
export * from './augment.js';
export * from './data.js';
export * from './trainer.js';
