/** A single-channel 2D image: row-major Float32Array (`data[row * width + col]`). */
export interface Image2D {
  data: Float32Array;
  width: number;
  height: number;
}

export function createImage2D(width: number, height: number, fill = 0): Image2D {
  return { data: new Float32Array(width * height).fill(fill), width, height };
}
