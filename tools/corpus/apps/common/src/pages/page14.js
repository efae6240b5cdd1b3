import { greet } from "../greet.js";

export default function render(el) {
  el.dataset.page = "14";
  el.textContent = greet("november") + " (14 of 24)";
}
