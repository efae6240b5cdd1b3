import { greet } from "../greet.js";

export default function render(el) {
  el.dataset.page = "16";
  el.textContent = greet("papa") + " (16 of 24)";
}
