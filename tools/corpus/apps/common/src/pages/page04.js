import { greet } from "../greet.js";

export default function render(el) {
  el.dataset.page = "04";
  el.textContent = greet("delta") + " (4 of 24)";
}
