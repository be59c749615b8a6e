"""The von Kármán vortex street: flow past a cylinder (simulated or downloaded), its
vorticity, and the physics checks of its flow stores."""
