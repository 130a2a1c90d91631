/**
 * @adx/diffusion-core — noise schedules, DDPM/DDIM schedulers, seeded noise, the UNet families of
 * THOR (MONAI), Wolleb et al. (guided-diffusion) and Behrendt et al. (conditioned OpenAI UNet),
 * ResNet encoders, safetensors checkpoints and PyTorch weight import, on TensorFlow.js.
 */
export * from './errors.js';
export * from './random/rng.js';
export * from './weights/index.js';
export * from './nn/index.js';
export * from './schedulers/index.js';
export * from './noise/index.js';
export * from './models/index.js';
export * from './backends/index.js';
export * from './training/index.js';
export * from './ops/index.js';
