import { greet } from "../greet.js";

export default function render(el) {
  el.dataset.page = "21";
  el.textContent = greet("uniform") + " (21 of 24)";
}
