// Using a trained model from Node code with the plain @tensorflow/tfjs package: loadModel reads
// model.json + weights.bin + dtrain-model.json and applies the training preprocessing.
//   node --import tsx examples/predict-node.ts checkpoints/iris
import { loadModel } from '@dtrain/shared/model/load-model';

const dir = process.argv[2] ?? 'checkpoints/iris';
const model = await loadModel(dir);
const predictions = model.predict([
  { sepal_length: 5.0, sepal_width: 3.4, petal_length: 1.5, petal_width: 0.2 },
  { sepal_length: 6.1, sepal_width: 2.8, petal_length: 4.7, petal_width: 1.2 },
]);
console.log(JSON.stringify(predictions, null, 2));
model.dispose();
