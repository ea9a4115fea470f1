import "./style.css";
import { startApp } from "./app";

const root = document.getElementById("app");
if (root === null) {
  throw new Error("missing #app element");
}
void startApp(root);
