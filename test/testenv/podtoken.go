package testenv

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// PodTokenKubeconfig writes a kubeconfig that authenticates as the service
// account of keygate's namespace with a token bound to the pod, as the
// kubelet mounts one: the API server sees the pod's name in the user's
// extra authentication.kubernetes.io/pod-name. The pod is created when
// missing (nothing runs it: envtest has no kubelet). The token lasts an
// hour. It returns the kubeconfig's path, dir/<pod>.kubeconfig.
func (e *Env) PodTokenKubeconfig(dir, serviceAccount, pod string) (string, error) {
	ctx := context.Background()
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: Namespace, Name: pod}, Spec: corev1.PodSpec{
		ServiceAccountName: serviceAccount, Containers: []corev1.Container{{Name: "main", Image: "keygate"}}}}
	if err := e.Client.Create(ctx, p); err != nil && !isAlreadyExists(err) {
		return "", fmt.Errorf("creating pod %s: %w", pod, err)
	}
	if err := e.Client.Get(ctx, client.ObjectKeyFromObject(p), p); err != nil {
		return "", err
	}
	cs, err := kubernetes.NewForConfig(e.Config)
	if err != nil {
		return "", err
	}
	hour := int64(3600)
	tr, err := cs.CoreV1().ServiceAccounts(Namespace).CreateToken(ctx, serviceAccount, &authenticationv1.TokenRequest{
		Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: &hour,
			BoundObjectRef: &authenticationv1.BoundObjectReference{Kind: "Pod", APIVersion: "v1", Name: pod, UID: p.UID}},
	}, metav1.CreateOptions{})
	if err != nil {
		return "", fmt.Errorf("requesting a token of %s bound to pod %s: %w", serviceAccount, pod, err)
	}
	kc := clientcmdapi.NewConfig()
	kc.Clusters["envtest"] = &clientcmdapi.Cluster{Server: e.Config.Host, CertificateAuthorityData: e.Config.CAData}
	kc.AuthInfos[pod] = &clientcmdapi.AuthInfo{Token: tr.Status.Token}
	kc.Contexts[pod] = &clientcmdapi.Context{Cluster: "envtest", AuthInfo: pod}
	kc.CurrentContext = pod
	b, err := clientcmd.Write(*kc)
	if err != nil {
		return "", err
	}
	path := filepath.Join(dir, pod+".kubeconfig")
	return path, os.WriteFile(path, b, 0o600)
}
