export * from './types.js';
export * from './monai-unet.js';
export * from './openai-unet.js';
export * from './conditioned-unet.js';
export * from './resnet.js';
export * from './registry.js';
