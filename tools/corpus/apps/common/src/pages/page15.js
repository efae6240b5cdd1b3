import { greet } from "../greet.js";

export default function render(el) {
  el.dataset.page = "15";
  el.textContent = greet("oscar") + " (15 of 24)";
}
