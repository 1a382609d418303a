// Regenerates the synthetic example tables (seeded, so the output is byte-identical every run):
//   node --import tsx examples/data/generate.ts
// study-hours.csv  - 200 students: prior quiz score, hours studied, hours slept -> passed (0/1)
// house-prices.csv - 300 houses: area, rooms, age, distance to centre -> price (k EUR)
import { writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gaussian, mulberry32 } from '../../packages/shared/src/data/rng';

const HERE = dirname(fileURLToPath(import.meta.url));
const STUDY_SEED = 2024;
const HOUSE_SEED = 1987;

const clamp = (v: number, lo: number, hi: number): number => Math.min(hi, Math.max(lo, v));
const roundTo = (v: number, step: number): number => Math.round(v / step) * step;

function studyHours(): string {
  const rand = mulberry32(STUDY_SEED);
  const lines = ['prior_score,hours_studied,hours_slept,passed'];
  for (let i = 0; i < 200; i++) {
    const prior = Math.round(clamp(70 + 12 * gaussian(rand), 30, 100));
    const studied = roundTo(clamp(10 * rand(), 0, 10), 0.5);
    const slept = roundTo(clamp(7 + 1.2 * gaussian(rand), 3, 10), 0.5);
    // Pass probability rises with each input: a logistic model with a little label noise.
    const z = 0.15 * (prior - 70) + 1.0 * (studied - 5) + 1.2 * (slept - 7);
    const passed = rand() < 1 / (1 + Math.exp(-z)) ? 1 : 0;
    lines.push(`${prior},${studied},${slept},${passed}`);
  }
  return `${lines.join('\n')}\n`;
}

function housePrices(): string {
  const rand = mulberry32(HOUSE_SEED);
  const lines = ['area_m2,rooms,age_years,distance_km,price_k'];
  for (let i = 0; i < 300; i++) {
    const area = Math.round(clamp(95 + 30 * gaussian(rand), 30, 250));
    const rooms = clamp(Math.round(area / 28 + 0.8 * gaussian(rand)), 1, 9);
    const age = Math.round(60 * rand());
    const distance = roundTo(0.5 + 25 * rand() ** 1.5, 0.1);
    const price = 90 + 2.4 * area + 9 * rooms - 0.9 * age - 3 * distance + 15 * gaussian(rand);
    lines.push(`${area},${rooms},${age},${distance.toFixed(1)},${price.toFixed(1)}`);
  }
  return `${lines.join('\n')}\n`;
}

writeFileSync(join(HERE, 'study-hours.csv'), studyHours());
writeFileSync(join(HERE, 'house-prices.csv'), housePrices());
console.log('wrote study-hours.csv and house-prices.csv');
