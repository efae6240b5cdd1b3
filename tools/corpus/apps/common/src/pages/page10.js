import { greet } from "../greet.js";

export default function render(el) {
  el.dataset.page = "10";
  el.textContent = greet("juliett") + " (10 of 24)";
}
