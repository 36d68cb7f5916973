# The image that `litepipe compile --image IMAGE` points Argo Workflows and Kubeflow Pipelines at:
# each pod runs one component, `litepipe run PIPELINE --component ID --run RUN_ID`, with the
# repository (examples/ included) as its working directory, so pipeline paths like
# examples/mnist/pipeline.yaml resolve as they do in a checkout.
#   docker build -t IMAGE . && docker push IMAGE
FROM debian:bookworm

WORKDIR /opt/litepipe
COPY . .
# scripts/build.sh runs scripts/install.sh (Debian packages, npm data) and builds build/ (Release).
RUN bash scripts/build.sh \
 && ln -s /opt/litepipe/build/litepipe /usr/local/bin/litepipe \
 && rm -rf /var/lib/apt/lists/*

ENTRYPOINT ["litepipe"]
CMD ["--help"]
