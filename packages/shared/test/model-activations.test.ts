import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { ACTIVATIONS } from '../src/job-spec';
import { activate, LEAKY_RELU_ALPHA, neuronOutput } from '../src/model/activations';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

describe('worked examples', () => {
  it('neuron with weights [0.01, 0.02, 0.03], bias 0.01 on [95, 4, 4]: z = 1.16, sigmoid = 0.7613', () => {
    const { z, output } = neuronOutput([0.01, 0.02, 0.03], 0.01, [95, 4, 4], 'sigmoid');
    expect(z).toBeCloseTo(1.16, 5);
    expect(output).toBeCloseTo(0.7613, 4);
  });

  it('softmax of [-1, 0, 3, 5] = [0.0022, 0.0059, 0.1182, 0.8737]', () => {
    const p = activate('softmax', [-1, 0, 3, 5]);
    const expected = [0.0022, 0.0059, 0.1182, 0.8737];
    p.forEach((v, i) => expect(v).toBeCloseTo(expected[i], 4));
    expect(p.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 6);
  });
});

describe('activations agree with their formulas', () => {
  const xs = [-2, -0.5, 0, 0.5, 2];
  const sig = (x: number): number => 1 / (1 + Math.exp(-x));
  const formulas: Record<string, (x: number) => number> = {
    linear: (x) => x,
    sigmoid: sig,
    tanh: Math.tanh,
    relu: (x) => Math.max(0, x),
    relu6: (x) => Math.min(6, Math.max(0, x)),
    leakyRelu: (x) => (x < 0 ? LEAKY_RELU_ALPHA * x : x),
    prelu: (x) => Math.max(0, x), // learned slope starts at 0
    elu: (x) => (x < 0 ? Math.exp(x) - 1 : x),
    selu: (x) => 1.0507009873554805 * (x < 0 ? 1.6732632423543772 * (Math.exp(x) - 1) : x),
    swish: (x) => x * sig(x),
    softplus: (x) => Math.log(1 + Math.exp(x)),
    softsign: (x) => x / (1 + Math.abs(x)),
    mish: (x) => x * Math.tanh(Math.log(1 + Math.exp(x))),
    hardSigmoid: (x) => Math.min(1, Math.max(0, 0.2 * x + 0.5)),
  };
  for (const name of ACTIVATIONS) {
    if (name === 'softmax' || name === 'gelu') continue;
    it(name, () => {
      const got = activate(name, xs);
      xs.forEach((x, i) => expect(got[i]).toBeCloseTo(formulas[name](x), 5));
    });
  }
  it('gelu (erf form): gelu(1) = 0.8413, gelu(-1) = -0.1587', () => {
    const [a, b] = activate('gelu', [1, -1]);
    expect(a).toBeCloseTo(0.8413, 4);
    expect(b).toBeCloseTo(-0.1587, 4);
  });
});
