export * from './safetensors.js';
export * from './state-dict.js';
export * from './pt.js';
export * from './checkpoint.js';
