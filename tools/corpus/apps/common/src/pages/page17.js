import { greet } from "../greet.js";

export default function render(el) {
  el.dataset.page = "17";
  el.textContent = greet("quebec") + " (17 of 24)";
}
